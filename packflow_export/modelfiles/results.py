"""What a model-file scan returns: immutable, annotated results that phase-2 rules map to findings."""

from __future__ import annotations

import enum
from typing import NamedTuple


class Format(str, enum.Enum):
    """The kind of file recognised, by its bytes first and its name never alone."""

    PICKLE = "pickle"
    JOBLIB = "joblib"
    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    TORCH_TAR = "torch-tar"
    NPY_NUMERIC = "npy-numeric"
    NPY_OBJECT = "npy-object"
    NPZ = "npz"
    KERAS_ZIP = "keras-zip"
    H5 = "h5"
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    GGUF = "gguf"
    XGBOOST_UBJ = "xgboost-ubj"
    XGBOOST_JSON = "xgboost-json"
    XGBOOST_BINARY = "xgboost-binary"
    LIGHTGBM_TEXT = "lightgbm-text"
    JSON = "json"
    ZIP = "zip"
    TAR = "tar"
    NOT_A_MODEL = "not-a-model"

    @property
    def pickle_based(self) -> bool:
        """True when loading the format runs a pickle (so a safer format is worth suggesting)."""
        return self in _PICKLE_BASED


_PICKLE_BASED = frozenset({Format.PICKLE, Format.JOBLIB, Format.TORCH_ZIP, Format.TORCH_LEGACY, Format.TORCH_TAR,
                           Format.NPY_OBJECT})


class IssueKind(str, enum.Enum):
    """Why a file is not proven safe to load; each maps to one phase-2 rule."""

    IMPORT = "import"              # a global outside the allow-list
    CALL = "call"                  # something called that is not an allowed callable or class constructor
    NEW = "new"                    # an object created of a class the allow-list does not let be created
    BUILD = "build"                # BUILD (state set) on anything but an instance of an allowed class
    DUNDER_STATE = "dunder-state"  # BUILD state sets a dunder attribute (__setstate__, __reduce__, __code__ ...)
    ATTRIBUTE = "attribute"        # a dotted global name: attribute access through a module or object
    EXTENSION = "extension"        # an EXT1/2/4 code the allow-list does not map
    UNRESOLVED = "unresolved"      # a global whose name is built at load time
    KERAS_LAMBDA = "keras-lambda"  # a Keras Lambda layer or marshalled Python bytecode
    KERAS_MODULE = "keras-module"  # a Keras object whose module is outside Keras
    CRC = "crc"                    # a zip member whose CRC-32 disagrees (torch's reader does not check it)
    MALFORMED = "malformed"        # the file claims a format but does not parse as it (load fails, or we misread)
    UNAVAILABLE = "unavailable"    # a container this installation cannot open (lz4 missing)
    LIMIT = "limit"                # a bound was hit: the rest of the file was not analysed


class Issue(NamedTuple):
    """One reason a model file is not proven safe; `message` is written for the user and names the file."""

    kind: IssueKind
    subject: str   # the global ("os.system"), opcode ("EXT2 0x1234") or key ("__setstate__") involved
    member: str    # where inside the file: a zip/tar member, "pickle 2", "" for the file itself
    offset: int    # byte offset of the opcode in the (decompressed) stream it was read from; -1 if none
    message: str


class Limits(NamedTuple):
    """Bounds on one scan; hitting any of them makes the scan incomplete (phase 2 treats that as blocking)."""

    max_opcodes: int = 20_000_000        # pickle opcodes over the whole file (all pickles, all members)
    max_memo: int = 1_000_000            # memo entries of one pickle
    max_stack: int = 1_000_000           # stack items plus marks of one pickle
    max_retained: int = 2_000_000        # container elements kept for analysis over the whole file
    max_pickles: int = 10_000            # pickles in one file (concatenated, nested, joblib object arrays)
    max_decompressed: int = 8 << 30      # bytes inflated from compressed wrappers, in all
    max_depth: int = 4                   # containers inside containers (a .gz of a zip of a pickle is 3)
    max_members: int = 100_000           # zip/tar members looked at
    max_config_bytes: int = 64 << 20     # a Keras config.json or HDF5 text run parsed as JSON
    max_h5_scan_bytes: int = 16 << 30    # bytes of an HDF5 file searched for its JSON model config
    max_issues: int = 200                # issues kept per file (the scan goes on counting)


DEFAULT_LIMITS = Limits()


class ModelScan(NamedTuple):
    """The verdict on one model file; `complete` False means a bound was hit or a container could not be opened."""

    name: str
    format: Format
    compression: str                   # "", "zlib", "gzip", "bz2", "lzma", "xz", "lz4" (outermost first, "+"-joined)
    globals: tuple[str, ...]           # every global its pickles import, sorted
    issues: tuple[Issue, ...]
    complete: bool
    distributions: tuple[str, ...]     # PyPI distributions loading it needs (from the globals and the container)
    pickles: int                       # pickles analysed
    opcodes: int                       # opcodes walked

    @property
    def ok(self) -> bool:
        """Nothing found and nothing left unread."""
        return self.complete and not self.issues
