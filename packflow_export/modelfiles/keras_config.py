"""Keras model configs (`config.json` of a `.keras` zip, the `model_config` attribute of an `.h5`): a Lambda
layer or marshalled bytecode runs Python when loaded (unsafe mode), and an object whose module is outside Keras
imports code the file names.

HDF5 is read at the byte level, without h5py: an attribute's value is stored contiguously and never filtered,
and Keras writes its config as ASCII JSON, so every printable run holding `"class_name"` is parsed as JSON. A run
that should be a config but does not parse leaves the scan incomplete.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .context import Context, LimitHit
from .reader import Reader
from .results import IssueKind

_LAMBDA_CLASSES = frozenset({"Lambda", "__lambda__", "TFOpLambda", "SlicingOpLambda"})
_RUN = re.compile(rb"[\x20-\x7e\t\r\n]{48,}")
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_MAX_DEPTH = 200
_CHUNK = 1 << 24


def _outside_keras(module: str) -> bool:
    return not (module == "keras" or module.startswith("keras.") or module.startswith("tf_keras")
                or module.startswith("tensorflow.python.keras") or module.startswith("tensorflow.keras"))


def _check_object(ctx: Context, node: dict[str, Any], member: str) -> None:
    """One serialized Keras object: its class, module and registered name."""
    class_name = node.get("class_name")
    config = node.get("config")
    if class_name in _LAMBDA_CLASSES:
        name = config.get("name") if isinstance(config, dict) else None
        subject = "Lambda" if class_name != "__lambda__" else "__lambda__"
        ctx.issue(IssueKind.KERAS_LAMBDA, subject, member, -1,
                  f"loading it runs the Python code of a Keras {class_name} layer"
                  + (f" ({name})" if isinstance(name, str) else "") + " (marshalled bytecode or a lambda)")
    if isinstance(config, dict) and config.get("function_type") == "lambda":
        ctx.issue(IssueKind.KERAS_LAMBDA, "lambda", member, -1,
                  "loading it runs a marshalled Python lambda stored in the model config")
    module = node.get("module")
    if isinstance(module, str) and _outside_keras(module) and module != "builtins":
        subject = f"{module}.{class_name}" if isinstance(class_name, str) else module
        ctx.issue(IssueKind.KERAS_MODULE, subject, member, -1,
                  f"loading it imports {subject}, a Keras object from outside Keras")
    elif module == "builtins" and class_name not in (None, "function", "tuple", "list", "dict", "str", "int",
                                                     "float", "bool", "NoneType"):
        ctx.issue(IssueKind.KERAS_MODULE, f"builtins.{class_name}", member, -1,
                  f"loading it calls builtins.{class_name} from the model config")
    registered = node.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        package = registered.split(">", 1)[0]
        if _outside_keras(package.lower()):
            ctx.issue(IssueKind.KERAS_MODULE, registered, member, -1,
                      f"loading it needs the custom object {registered}, registered outside Keras")


def check_config(ctx: Context, config: Any, member: str) -> None:
    """Walk a parsed config (iteratively, bounded depth) and check every object in it."""
    pending: list[tuple[Any, int]] = [(config, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > _MAX_DEPTH:
            ctx.incomplete(IssueKind.LIMIT, "config depth", member, -1,
                           f"its model config nests deeper than {_MAX_DEPTH} levels and was not fully analysed")
            return
        if isinstance(node, dict):
            if "class_name" in node:
                _check_object(ctx, node, member)
            pending.extend((value, depth + 1) for value in node.values() if isinstance(value, (dict, list)))
        elif isinstance(node, list):
            pending.extend((value, depth + 1) for value in node if isinstance(value, (dict, list)))


def check_config_bytes(ctx: Context, data: bytes, member: str) -> bool:
    """Parse and check a JSON config; False when it is not JSON."""
    try:
        config = json.loads(data)
    except (ValueError, RecursionError):
        return False
    check_config(ctx, config, member)
    return True


def _configs_in_run(ctx: Context, run: bytes, member: str) -> None:
    """JSON objects holding "class_name" inside one printable run of an HDF5 file."""
    if b"class_name" not in run:
        return
    if len(run) > ctx.limits.max_config_bytes:
        raise LimitHit(f"an HDF5 text run larger than {ctx.limits.max_config_bytes:,} bytes")
    decoder = json.JSONDecoder()
    text = run.decode("ascii")
    start = text.find("{")
    attempts = 0
    while start >= 0 and attempts < 64:
        attempts += 1
        try:
            config, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        check_config(ctx, config, member)
        ctx.distributions.add("keras")
        if text.find("class_name", end) < 0:
            return
        start = text.find("{", end)
    ctx.incomplete(IssueKind.MALFORMED, "model_config", member, -1,
                   "it holds a Keras model config that does not parse as JSON; it was not analysed")


def scan_h5(ctx: Context, reader: Reader, member: str) -> None:
    """Every Keras config stored in an HDF5 file, found at the byte level."""
    carry = b""
    scanned = 0
    while True:
        chunk = reader.peek(_CHUNK)
        if not chunk:
            break
        reader.skip(len(chunk))
        scanned += len(chunk)
        if scanned > ctx.limits.max_h5_scan_bytes:
            raise LimitHit(f"an HDF5 file larger than {ctx.limits.max_h5_scan_bytes:,} bytes")
        data = carry + chunk
        last_end = 0
        for match in _RUN.finditer(data):
            if match.end() == len(data):
                break
            _configs_in_run(ctx, match.group(), member)
            last_end = match.end()
        tail = data[last_end:]
        carry = tail[len(tail.rstrip(_PRINTABLE)):]
        if len(carry) > ctx.limits.max_config_bytes:
            raise LimitHit(f"an HDF5 text run larger than {ctx.limits.max_config_bytes:,} bytes")
    if carry:
        _configs_in_run(ctx, carry, member)
