"""Model files that run code when loaded (PF82x). Every file check, export and verify read for secrets is also
analysed by packflow_export.modelfiles in the same read (contents.scan_file hands each chunk to a ModelTap), and
judged by the model-file allow-list: the bundled one plus the policy's `model_allowlist`. verify --load refuses to
load an archive with a blocking model-file finding unless --load-unsafe-model-files says otherwise (recorded).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Callable, Iterator, NamedTuple, Optional, Union
from weakref import WeakKeyDictionary

from ..findings import AllowListData, AllowListItem, Finding, Policy, Report, Rule, define
from ..model.context import Context
from .check import Check, Need, Stage

if TYPE_CHECKING:
    from ..modelfiles import AllowList, Limits, ModelScan

UNSAFE = define(
    "PF820", "error", "loading a model file would import or call what the model-file allow-list does not allow",
    why="Loading a pickle (joblib, PyTorch, NumPy object arrays) runs whatever its opcodes ask for: os.system, eval, "
        "pip. It runs on every machine that loads the archive, the importing pipeline's included.",
    fix="Save the weights in a format that runs no code (safetensors, skops, ONNX, the library's native format), "
        "or, if the global is your own harmless class, add it to an allow-list file the policy's model_allowlist "
        "names.")
KERAS_CODE = define(
    "PF821", "error",
    "a Keras model file holds code: a Lambda layer, marshalled bytecode or a layer from outside Keras",
    why="Keras runs a Lambda layer's bytecode, and imports a layer's module, when the model is loaded.",
    fix="Replace Lambda layers by registered custom layers shipped as code, or save the weights alone.")
DAMAGED = define(
    "PF822", "error", "a model file is damaged: a CRC-32 that disagrees or a pickle that does not parse to its end",
    why="A loader that does not check (torch does not check CRCs) reads bytes nobody vouched for; a pickle that stops "
        "parsing fails to load, or hides what follows from every scanner.",
    fix="Save the model again from the library that made it.")
NOT_ANALYSED = define(
    "PF823", "error", "a model file could not be fully analysed: a bound was reached, or its container cannot be "
    "opened here",
    why="The analysis cannot vouch for bytes it did not read; a hostile file is built to exhaust scanners.",
    fix="Install what opens the container (lz4), split the file, or save it in a format that runs no code.")
PICKLE_WEIGHTS = define(
    "PF824", "info", "weights are stored in a pickle-based format; a format that runs no code would be safer",
    why="Whoever loads a pickle trusts whoever wrote it; safetensors, skops, ONNX and the libraries' native "
        "formats load without running code.",
    fix="Save the weights as safetensors (PyTorch), skops or ONNX (scikit-learn), or the library's own format "
        "(XGBoost .ubj, LightGBM .txt).")
UNDECLARED_NEED = define(
    "PF825", "error", "a model file needs a distribution that requirements.txt does not list",
    why="The globals a pickle imports name the distributions loading it needs: a clean environment installs only "
        "requirements.txt, so the load fails there however well it works where the model was made.",
    fix="Add the distribution, pinned to the version that wrote the file, to requirements.txt.",
    group="undeclared imports")
LOAD_REFUSED = define(
    "PF826", "error", "the load proof was not run: a model file would run code when loaded",
    why="Loading unpickles the weights on the verifier's machine; the sandbox limits the damage but nothing should "
        "run that the analysis refused.",
    fix="Fix the model-file findings; to load anyway (a trusted archive), pass --load-unsafe-model-files.")
LOAD_UNSAFE = define(
    "PF827", "warning", "the load proof loaded model files that have blocking findings (--load-unsafe-model-files)",
    why="Recorded so that whoever reads the report sees the load ran against the analysis's advice.",
    fix="Nothing, if the archive is trusted.")

_SCAN_RULES = (UNSAFE, KERAS_CODE, DAMAGED, NOT_ANALYSED, PICKLE_WEIGHTS, UNDECLARED_NEED)
REFUSING_LOAD = (UNSAFE, KERAS_CODE, DAMAGED, NOT_ANALYSED)  # an error of these keeps verify --load from loading
_RULE_OF_KIND = {"keras-lambda": KERAS_CODE, "keras-module": KERAS_CODE, "crc": DAMAGED, "malformed": DAMAGED,
                 "unavailable": NOT_ANALYSED, "limit": NOT_ANALYSED}  # any other kind: UNSAFE
_SAFER = (("torch", "safetensors (safetensors.torch.save_file(model.state_dict(), ...))"),
          ("xgboost", "XGBoost's own format (model.save_model('model.ubj'))"),
          ("lightgbm", "LightGBM's own format (booster.save_model('model.txt'))"),
          ("sklearn", "skops (skops.io.dump) or ONNX (skl2onnx)"),
          ("pandas", "Parquet or CSV"),
          ("numpy", "a numeric .npy/.npz (numpy.save without objects)"))
HEAD_BYTES = 1 << 16  # what a file's first chunks must show before the analysis starts (or is skipped)


class ScanSettings(NamedTuple):
    """What the analysis of one run's files uses: the allow-list, and what requirements.txt installs."""

    allowlist: AllowList
    declared: Optional[frozenset[str]]  # normalized distributions requirements.txt installs; None: not compared
    limits: Limits


# Model file -> distributions that installing it installs too (their Requires-Dist on PyPI, without extras), so a
# model that imports numpy needs no numpy line when scikit-learn is listed.
_PROVIDES: dict[str, tuple[str, ...]] = {
    "packflow": ("numpy", "pyyaml", "pydantic", "packaging", "pathspec", "click", "loguru"),
    "scikit-learn": ("numpy", "scipy", "joblib", "threadpoolctl"),
    "scipy": ("numpy",), "pandas": ("numpy", "python-dateutil", "pytz", "tzdata"),
    "xgboost": ("numpy", "scipy"), "lightgbm": ("numpy", "scipy"),
    "statsmodels": ("numpy", "scipy", "pandas", "patsy", "packaging"),
    "keras": ("numpy", "h5py", "absl-py", "rich", "namex", "optree", "ml-dtypes", "packaging"),
    "tensorflow": ("keras", "numpy", "h5py"), "h5py": ("numpy",), "torchvision": ("torch", "numpy"),
    "transformers": ("numpy", "tokenizers", "safetensors", "huggingface-hub", "pyyaml"),
    "sentence-transformers": ("transformers", "torch", "scikit-learn", "scipy"),
    "catboost": ("numpy", "pandas", "scipy"), "skops": ("numpy", "scikit-learn"),
}


def installed_with(names: frozenset[str]) -> frozenset[str]:
    """The distributions these install, their own dependencies followed (as far as _PROVIDES knows them)."""
    found, todo = set(names), list(names)
    while todo:
        for dependency in _PROVIDES.get(todo.pop(), ()):
            if dependency not in found:
                found.add(dependency)
                todo.append(dependency)
    return frozenset(found)


@lru_cache(maxsize=8)
def _allowlist(extensions: tuple[AllowListItem, ...]) -> AllowList:
    """Cached by the frozen items: a run builds its allow-list once, however many files it analyses."""
    from ..modelfiles.allowlist import bundled_allowlist, parse_allowlist

    allow = bundled_allowlist()
    for item in extensions:
        if isinstance(item, AllowListData):  # a path still a string was never read (a recorded policy's): nothing
            allow = allow.extended(parse_allowlist(item.as_data(), "the policy's model_allowlist"))
    return allow


def allowlist_of(policy: Policy) -> AllowList:
    """The bundled allow-list extended by the policy's model_allowlist (its files were read by load_policy)."""
    return _allowlist(policy.model_allowlist)


def _project_modules(names: list[str]) -> frozenset[str]:
    """The top-level modules the archive's own files provide (mymodel.py, mypkg/...py): a pickle of a class of
    the project needs no distribution for it."""
    tops = set()
    for name in names:
        top, folder, _ = name.partition("/")
        top = top if folder else top.removesuffix(".py")
        if name.endswith(".py") and top.isidentifier():
            tops.add(top)
    return frozenset(tops)


def settings_for(ctx: Context) -> ScanSettings:
    """The analysis settings of a run: its policy's allow-list, and the requirements of the project or archive."""
    from ..model.requirements import normalized_name
    from ..modelfiles import DEFAULT_LIMITS

    declared = None
    if ctx.requirements.files:
        declared = installed_with(frozenset(ctx.requirements.names | {normalized_name("packflow")})) \
            | {normalized_name(name) for name in _project_modules(ctx.names())}
    return ScanSettings(allowlist_of(ctx.policy), declared, DEFAULT_LIMITS)


class _Session(threading.local):
    """The settings of the scan running on this thread (scan_file's signature has no place for them)."""

    settings: Optional[ScanSettings] = None
    found: Optional[list[Finding]] = None


_SESSION = _Session()
_FOUND: WeakKeyDictionary[Context, tuple[Finding, ...]] = WeakKeyDictionary()


@contextmanager
def using(settings: ScanSettings) -> Iterator[list[Finding]]:
    """Within it, scan_file on this thread analyses model files with these settings; yields what they found."""
    previous = (_SESSION.settings, _SESSION.found)
    found: list[Finding] = []
    _SESSION.settings, _SESSION.found = settings, found
    try:
        yield found
    finally:
        _SESSION.settings, _SESSION.found = previous


@contextmanager
def scanning(ctx: Context) -> Iterator[None]:
    """using() this run's settings; the findings are kept for the gate before the load proof."""
    with using(settings_for(ctx)) as found:
        try:
            yield
        finally:
            _FOUND[ctx] = tuple(found)


def current_settings() -> ScanSettings:
    """The settings of this thread's scan, or the bundled allow-list without requirements."""
    if _SESSION.settings is not None:
        return _SESSION.settings
    from ..modelfiles import DEFAULT_LIMITS, bundled_allowlist

    return ScanSettings(bundled_allowlist(), None, DEFAULT_LIMITS)


# The findings of one file's analysis -------------------------------------------------------------------------------

def _safer_format(scan: ModelScan) -> str:
    modules = {name.split(".", 1)[0] for name in scan.globals}
    if scan.format.value.startswith("torch"):
        modules.add("torch")
    return next((advice for module, advice in _SAFER if module in modules), "safetensors, ONNX or a plain numeric "
                                                                              "format")


def scan_findings(scan: ModelScan, declared: Optional[frozenset[str]]) -> list[Finding]:
    """A file's analysis as findings: one per issue, what loading needs that is not installed, a safer format."""
    from ..model.requirements import normalized_name

    from ..modelfiles import distribution_of

    found = [_RULE_OF_KIND.get(issue.kind.value, UNSAFE)(issue.message, scan.name) for issue in scan.issues]
    missing = [name for name in scan.distributions if declared is not None and normalized_name(name) not in declared]
    if missing:
        by = {distribution_of(dotted.rpartition(".")[0] or dotted): dotted for dotted in reversed(scan.globals)}
        why = [f"{by[name]}" for name in missing if name in by]
        found.append(UNDECLARED_NEED(
            f"{scan.name}: loading it needs {', '.join(missing)}, which requirements.txt does not list"
            + (f" (it imports {', '.join(why)})" if why else f" (it is a {scan.format.value} file)"), scan.name, None,
            f"Add {missing[0]}==<the version that wrote the file> to requirements.txt."))
    if scan.format.pickle_based:
        found.append(PICKLE_WEIGHTS(f"{scan.name} is a {scan.format.value} file: loading it runs a pickle; "
                                    f"{_safer_format(scan)} would load without running code", scan.name))
    return found


# Same read as the secret scan: the chunks it reads, handed to the analysis on a thread of its own ---------------

Chunk = Union[bytes, bytearray, memoryview]
_END = b""


class _Fed:
    """A readable stream of the chunks put into it (bounded: the putter waits when the reader is behind)."""

    def __init__(self) -> None:
        import queue

        self.chunks: queue.Queue[bytes] = queue.Queue(maxsize=8)
        self.left = b""
        self.ended = False  # the reader met the end
        self.done = False  # the analysis stopped reading: what is still put is only drained

    def read(self, size: int = -1) -> bytes:
        parts, have = [], 0
        while (size < 0 or have < size) and not self.ended:
            piece = self.left or self.chunks.get()
            self.left = b""
            if not piece:
                self.ended = True
                break
            parts.append(piece)
            have += len(piece)
        data = b"".join(parts)
        if 0 <= size < len(data):
            data, self.left = data[:size], data[size:]
        return data

    def seekable(self) -> bool:
        return False

    def drain(self) -> None:
        """Take what is still put, to the end, so the putter never waits for a reader that stopped."""
        while not self.ended:
            self.ended = not self.chunks.get()

    def __enter__(self) -> _Fed:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class ModelTap:
    """One file's model analysis, fed the chunks the secret scan reads. Its first bytes decide: not a model file
    (nothing more is done), a zip read again through `reopen` (only its directory and pickle members), or every
    chunk handed to the analysis on its own thread."""

    def __init__(self, name: str, reopen: Optional[Callable[[], IO[bytes]]] = None,
                 settings: Optional[ScanSettings] = None) -> None:
        self.name, self.reopen = name, reopen
        self.settings = settings or current_settings()
        self.head: list[bytes] = []
        self.state = "sniff"  # then "off", "reopen" or "fed"
        self.fed: Optional[_Fed] = None
        self.thread: Optional[threading.Thread] = None
        self.scan: Optional[ModelScan] = None

    def feed(self, chunk: Chunk) -> None:
        """The next chunk of the file (copied: the caller may read into the same buffer again)."""
        if self.state == "sniff":
            self.head.append(bytes(chunk))
            if sum(map(len, self.head)) >= HEAD_BYTES:
                self._decide()
        elif self.fed is not None and not self.fed.done:
            self.fed.chunks.put(bytes(chunk))

    def _decide(self) -> None:
        from ..modelfiles import sniff
        from ..modelfiles.pickles import looks_like_pickle

        head = b"".join(self.head)
        self.head = []
        if not head:
            self.state = "off"
        elif sniff.container(head) == sniff.ZIP and self.reopen is not None:
            self.state = "reopen"
        elif sniff.compression(head) or sniff.container(head) or looks_like_pickle(head, self.settings.allowlist):
            self.state = "fed"
            self.fed = _Fed()
            self.thread = threading.Thread(target=self._analyse, name="packflow-model-scan", daemon=True)
            self.thread.start()
            self.fed.chunks.put(head)
        else:
            self.state = "off"

    def _analyse(self) -> None:
        from ..modelfiles import scan_model_file

        assert self.fed is not None
        try:
            self.scan = scan_model_file(self.name, lambda: self.fed, self.settings.limits,  # type: ignore
                                        self.settings.allowlist)
        finally:
            self.fed.done = True
            self.fed.drain()

    def close(self, complete: bool = True) -> list[Finding]:
        """The end of the file: its findings (none when the read did not complete); only the first call counts."""
        if self.state == "closed":
            return []
        if self.state == "sniff" and complete:
            self._decide()
        if self.fed is not None:
            self.fed.chunks.put(_END)
            if self.thread is not None:
                self.thread.join()
            self.fed = None
        if complete and self.state == "reopen" and self.reopen is not None:
            from ..modelfiles import scan_model_file

            self.scan = scan_model_file(self.name, self.reopen, self.settings.limits,  # type: ignore[arg-type]
                                        self.settings.allowlist)
        self.state = "closed"
        if not complete or self.scan is None:
            return []
        found = scan_findings(self.scan, self.settings.declared)
        if _SESSION.found is not None:
            _SESSION.found.extend(found)
        return found


# Before the load proof ---------------------------------------------------------------------------------------------

def _level(policy: Policy, finding: Finding) -> str:
    return Report("", policy).level(finding)


def before_load(ctx: Context) -> Iterator[Finding]:
    """verify --load loads only an archive without a blocking model-file finding, unless told to (recorded)."""
    gated = {rule.code for rule in REFUSING_LOAD}
    blocking = [item for item in _FOUND.get(ctx, ()) if item.code in gated and _level(ctx.policy, item) == "error"]
    if not blocking or ctx.options.load is None:
        return
    files = sorted({item.path or "" for item in blocking})
    named = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    if getattr(ctx.options.load, "unsafe_model_files", False):
        yield LOAD_UNSAFE(f"the load proof loaded {named} although {len(blocking)} model-file finding(s) block it "
                          f"({blocking[0].message}): --load-unsafe-model-files", files[0])
    else:
        yield LOAD_REFUSED(f"the archive was not loaded: {len(blocking)} model-file finding(s) in {named} "
                           f"({blocking[0].message})", files[0])


def refuses_load(report: Report) -> bool:
    """The load proof is refused in this report (runner.py then skips it)."""
    return any(item.code == LOAD_REFUSED.code and item.severity == "error" for item in report.findings)


def scan_rules() -> tuple[Rule, ...]:
    """The rules the content scan raises through its model-file analysis (contents.py declares them)."""
    return _SCAN_RULES


RULES = _SCAN_RULES + (LOAD_REFUSED, LOAD_UNSAFE)
CHECKS = (
    Check("model files before the load proof", before_load, raises=(LOAD_REFUSED, LOAD_UNSAFE), needs=Need.LOAD,
          stage=Stage.RUN),
)
