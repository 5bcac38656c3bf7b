"""joblib's arrays stored outside the pickle stream: after a NumpyArrayWrapper is built, joblib reads the array
bytes (after an optional alignment padding) straight from the file, or, for object dtype, a nested pickle.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .context import Context
from .reader import Reader
from .results import IssueKind
from .values import Container, Made, Opaque


class PickleMachine(Protocol):
    """What reading an array needs of the pickle machine (which calls read_array): no import back of it."""

    r: Reader
    ctx: Context
    member: str
    offset: int

    def nested(self) -> None:
        """Analyse a nested pickle that starts at the reader's position."""

_ITEMSIZE = re.compile(r"[<>|=]?[a-zA-Z?](\d+)$")
_ONE_BYTE = frozenset("?bBc")


def _dtype_facts(dtype: Any) -> tuple[int, bool] | None:
    """(itemsize, hasobject) of a pickled numpy.dtype(...) with its BUILD state, or None if unknown."""
    if not isinstance(dtype, Made) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None
    code = dtype.args[0]
    if not isinstance(code, str):
        return None
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    if code.lstrip("<>|=").startswith("O") or flags & 1:
        return 8, True
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    if elsize > 0:
        return elsize, False
    match = _ITEMSIZE.match(code)
    if match:
        return int(match.group(1)), False
    if code.lstrip("<>|=") in _ONE_BYTE:
        return 1, False
    return None


def _count(shape: Any) -> int | None:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        return None
    count = 1
    for n in shape:
        count *= n
    return count


def read_array(vm: PickleMachine, wrapper: Made) -> Any:
    """Skip (or, for objects, analyse) the array bytes that follow a built NumpyArrayWrapper."""
    state = wrapper.state
    facts = _dtype_facts(state.get("dtype")) if isinstance(state, Container) else None
    count = _count(state.get("shape")) if isinstance(state, Container) else None
    if facts is None or count is None:
        vm.ctx.incomplete(IssueKind.MALFORMED, "NumpyArrayWrapper", vm.member, vm.offset,
                          "loading it reads a joblib array whose size the analysis cannot tell; the bytes after it "
                          "were not analysed")
        raise _StopPickle()
    itemsize, hasobject = facts
    if hasobject:
        vm.ctx.count_pickle()
        vm.nested()
        return Opaque("a numpy object array")
    alignment = state.get("numpy_array_alignment_bytes")
    if isinstance(state, Container) and any(isinstance(i, tuple) and i[0] == "numpy_array_alignment_bytes"
                                            for i in state.items) and alignment is not None:
        padding = vm.r.read(1)[0]
        vm.r.skip(padding)
    vm.r.skip(count * itemsize)
    return Opaque("a numpy array")


class _StopPickle(Exception):
    """The rest of this stream cannot be placed; analysis of it stops (the scan is already incomplete)."""


StopPickle = _StopPickle
