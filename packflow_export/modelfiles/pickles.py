"""Pickle streams as loaders read them: one pickle, the pickles concatenated after it, and PyTorch's legacy
layout (magic number, protocol, sys info, main pickle, storage keys, raw storages, one after another).
"""

from __future__ import annotations

import io
from typing import Any

from .allowlist import AllowList
from .context import Context
from .joblib_arrays import StopPickle
from .pickle_ops import Machine
from .pickle_vm import Malformed
from .reader import Reader, Truncated
from .results import IssueKind, Limits
from .values import Container, Global

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
SNIFF_BYTES = 1 << 16
_STORAGE_BYTES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
}


def looks_like_pickle(head: bytes, allow: AllowList) -> bool:
    """Whether loading these bytes as a pickle would import or call anything before failing (or finish)."""
    scratch = Context("", allow, Limits(max_opcodes=100_000))
    vm = Machine(Reader(io.BytesIO(head), seekable=False), scratch, "")
    try:
        vm.run()
    except Malformed:
        return vm.effects > 0 or (len(head) >= SNIFF_BYTES and scratch.opcodes > 16)
    except Exception:  # noqa: BLE001 - a sniff: any other failure means the bytes are not a pickle we can read
        return vm.effects > 0
    return vm.effects > 0 or scratch.opcodes > 16  # not a text whose first byte is STOP ('.. note' in .rst)


def _label(member: str, index: int) -> str:
    if index == 0:
        return member
    return f"{member}, pickle {index + 1}" if member else f"pickle {index + 1}"


def scan_pickles(ctx: Context, reader: Reader, member: str, joblib: bool = True,
                 torch_persistent: bool = False) -> str:
    """Every pickle in the stream, to its end; returns "torch-legacy" when it is PyTorch's legacy layout."""
    index = 0
    while index == 0 or not reader.at_end():
        ctx.count_pickle()
        vm = Machine(reader, ctx, _label(member, index), joblib=joblib and not torch_persistent,
                      torch=torch_persistent)
        try:
            value = vm.run()
        except Malformed as error:
            if index == 0:
                ctx.issue(IssueKind.MALFORMED, "pickle", member, vm.offset,
                          f"it is not a complete pickle ({error}): loading it fails, and what follows was not "
                          f"analysed")
            return "pickle"
        except StopPickle:
            return "pickle"
        if index == 0 and value == TORCH_MAGIC and not torch_persistent:
            _torch_legacy(ctx, reader, member)
            return "torch-legacy"
        index += 1
    return "pickle"


def _run(ctx: Context, reader: Reader, member: str, **options: Any) -> Any:
    ctx.count_pickle()
    return Machine(reader, ctx, member, **options).run()


def _storage_sizes(persistent_ids: list[Any]) -> dict[Any, int]:
    """Storage key -> element size, from the ('storage', type, key, location, numel, view) persistent ids."""
    sizes: dict[Any, int] = {}
    for pid in persistent_ids:
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[1], Global):
            size = _STORAGE_BYTES.get(pid[1].name)
            if size is not None and isinstance(pid[2], (str, int)):
                sizes[pid[2]] = size
    return sizes


def _torch_legacy(ctx: Context, reader: Reader, member: str) -> None:
    """After the magic number: protocol, sys info, the main pickle, the storage keys, then raw storages."""
    persistent_ids: list[Any] = []
    try:
        _run(ctx, reader, f"{member}, protocol" if member else "protocol")
        _run(ctx, reader, f"{member}, sys info" if member else "sys info")
        _run(ctx, reader, member, persistent_ids=persistent_ids, torch=True)
        keys = _run(ctx, reader, f"{member}, storage keys" if member else "storage keys",
                    keep_items=ctx.limits.max_retained)
        sizes = _storage_sizes(persistent_ids)
        if not isinstance(keys, Container) or keys.truncated:
            raise Malformed("the storage keys are not a list")
        for key in keys.items:
            if key not in sizes:
                raise Malformed(f"storage {key!r} has no known element type")
            numel = int.from_bytes(reader.read(8), "little", signed=True)
            if numel < 0:
                raise Malformed("negative storage size")
            reader.skip(numel * sizes[key])
    except (Malformed, Truncated, StopPickle) as error:
        ctx.issue(IssueKind.MALFORMED, "torch legacy", member, reader.tell(),
                  f"it is not a complete PyTorch legacy file ({error}): loading it fails, and what follows was not "
                  f"analysed")
        return
    if not reader.at_end():
        scan_pickles(ctx, reader, f"{member}, after the storages" if member else "after the storages",
                     joblib=False, torch_persistent=True)
