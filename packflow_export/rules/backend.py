"""The backend module: it parses, defines the class Packflow loads, subclasses InferenceBackend and has real
inference; what it imports is declared and the files it reads are packed; sample inputs are records (PF5xx).
Static analysis only: project code is never imported here (the model parses it: model/backend.py).
"""

from __future__ import annotations

import ast
import hashlib
import sys
from posixpath import dirname, join, normpath
from typing import Iterator, Optional

from .. import naming
from ..findings import Finding, define
from ..model.backend import (Distributions, ProjectModule, distribution_of, installed_distributions, module_file,
                             path_literals, provided)
from ..model.config import CONFIG
from ..model.context import Context
from ..model.problems import ProblemKind
from ..model.samples import SAMPLES, read_samples
from ..model.selection import Selection
from ..model.views import View
from .check import Check
from .files import BACKEND_MISSING, UNREADABLE, read_text, reported

SYNTAX_ERROR = define(
    "PF501", "error", "the backend module has a syntax error",
    why="Packflow cannot import the module.",
    fix="Fix the syntax at the reported line.")
CLASS_MISSING = define(
    "PF502", "error", "the backend class is not defined in the module",
    why="Packflow takes the class by the name after ':' in inference_backend and fails when it is not there.",
    fix="Define the class named in inference_backend, or fix the name.")
NOT_A_BACKEND = define(
    "PF503", "warning", "the backend class does not visibly subclass packflow's InferenceBackend",
    why="Packflow refuses to load an object that is not an InferenceBackend.",
    fix="Subclass packflow.InferenceBackend (from packflow import InferenceBackend).")
TEMPLATE_EXAMPLE = define(
    "PF504", "warning", "execute() is still the template's example",
    why="The package would ship the example's word counting instead of a model.",
    fix="Replace the example with your model's inference.")
MODULE_NOT_IMPORTABLE = define(
    "PF505", "error", "the backend module is neither importable from the archive's root nor installed by a requirement",
    why="loader: module imports the module with only the project folder added to sys.path: a module under src/ (or "
        "nowhere) is not found, and the archive does not load.",
    fix="Move the module to the project's root (a/b.py for a.b:Class), or make it an installable requirement.")
UNDECLARED_IMPORT = define(
    "PF506", "warning", "the backend imports a third-party module that requirements.txt does not list",
    why="A clean environment installs only requirements.txt: the import fails there, however well it works on "
        "the machine that has the package.",
    fix="Add the distribution, pinned, to requirements.txt.", group="undeclared imports")
DATA_FILE_LEFT_OUT = define(
    "PF507", "warning", "a file the backend reads is not in the archive",
    why="Weights or data read in initialize() but ignored by .gitignore (or never there) fail the load on "
        "every other machine.",
    fix="Re-include it in .packflowignore (!path), or ship it another way and document that in the model card.",
    group="files the backend reads that the archive lacks")
SAMPLES_INVALID = define(
    "PF508", "error", "sample_inputs.json is not a JSON list of input records",
    why="The tests, validate.py and the load proof (verify --load) feed it to the backend as Packflow's inputs.",
    fix='Write a JSON list of objects, one per record: [{"text": "..."}].')
SAMPLES_MISSING = define(
    "PF509", "warning", "the project has no sample_inputs.json",
    why="Without sample inputs the load proof can only load the backend, not run it; a pipeline receiving the "
        "archive has nothing to exercise it with.",
    fix="Add sample_inputs.json: a JSON list of realistic input records.")

# execute_fingerprint() of the example execute() in this template and in upstream `packflow create`
# (tests pin the first to the template, so the two cannot drift apart).
TEMPLATE_EXECUTE_FINGERPRINTS = frozenset({
    "b3606186f7abd67a81d4da033227afc2a20a3af81df1e9a298c7f6f0ed911086",  # this template
    "089e1687956b1bf7258331e78a3b8f6a60aeddd3b589b700766b5a93e42c4218",  # packflow 0.4.1 `packflow create`
})
SDK_MODULES = ("packflow", "packflow.backend", "packflow.backend.base")
DATA_SUFFIXES = frozenset({
    ".joblib", ".pkl", ".pickle", ".pt", ".pth", ".bin", ".safetensors", ".onnx", ".h5", ".hdf5", ".keras", ".pb",
    ".tflite", ".ckpt", ".gguf", ".npy", ".npz", ".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt", ".yaml",
    ".yml", ".model", ".vocab", ".spm", ".msgpack", ".arrow", ".feather", ".db", ".sqlite", ".xml", ".pmml",
})


def execute_fingerprint(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A hash of a method's code that ignores its docstring, comments and formatting."""
    body = list(function.body)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    return hashlib.sha256("\n".join(ast.dump(statement) for statement in body).encode()).hexdigest()


def module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported: the top level and the blocks of if/try/with/for/while."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        blocks: list[list[ast.stmt]] = []
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            blocks = [node.body, node.orelse]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            blocks = [node.body]
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":  # TryStar: `except*`, Python 3.11+
            handlers: list[ast.ExceptHandler] = getattr(node, "handlers", [])
            blocks = [getattr(node, "body", []), *(handler.body for handler in handlers), getattr(node, "orelse", []),
                      getattr(node, "finalbody", [])]
        for block in reversed(blocks):
            stack.extend(reversed(block))


def sdk_backend_names(statements: list[ast.stmt]) -> tuple[set[str], set[str]]:
    """(names bound to packflow's InferenceBackend, names bound to the packflow module), in this module's scope."""
    direct: set[str] = set()
    modules: set[str] = set()
    for node in statements:
        if isinstance(node, ast.ImportFrom) and node.module in SDK_MODULES and not node.level:
            direct.update(alias.asname or alias.name for alias in node.names if alias.name == "InferenceBackend")
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names if alias.name in SDK_MODULES)
    for node in statements:  # a later local definition rebinds the name
        if isinstance(node, ast.ClassDef) and node.name in direct:
            direct.discard(node.name)
    return direct, modules


def binds_name(statements: list[ast.stmt], name: str) -> bool:
    """Whether the module binds the name by import or assignment (a backend may be imported or aliased)."""
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name or alias.name == "*" for alias in node.names):
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
    return False


def _missing_module(ctx: Context) -> Iterator[Finding]:
    """The local loader's file is missing: say where Packflow looks, and that a package needs loader: module."""
    target = ctx.backend
    if target is None or target.loader != "local":
        return
    candidates = naming.backend_paths(target.module, target.loader)
    package = naming.backend_paths(target.module, "module")[1]
    hint = (f"Packflow's local loader reads {candidates[0]}; a package ({package}) needs loader: module."
            if ctx.view.kind(package) == "file" else None)
    yield BACKEND_MISSING(f"{candidates[0]} is missing (inference_backend {target.module}:{target.class_name}, "
                          f"loader local)", candidates[0], None, hint)


def _subclasses_sdk(cls: ast.ClassDef, direct: set[str], modules: set[str]) -> bool:
    return any(
        (isinstance(base, ast.Name) and base.id in direct)
        or (isinstance(base, ast.Attribute) and base.attr == "InferenceBackend"
            and isinstance(base.value, (ast.Name, ast.Attribute)) and ast.unparse(base.value) in modules)
        for base in cls.bases)


def check_backend(ctx: Context) -> Iterator[Finding]:
    """The backend module parses, defines the class, subclasses InferenceBackend and has a real execute()."""
    target, rel = ctx.backend, ctx.backend_module
    if target is None:
        return
    if rel is None:
        yield from _missing_module(ctx)
        return
    parsed = ctx.parsed(rel)
    if parsed.tree is None:
        if parsed.problem is not None:
            yield reported(parsed.problem, {ProblemKind.SYNTAX_ERROR: SYNTAX_ERROR})
        return
    statements = list(module_statements(parsed.tree.body))
    classes = [node for node in statements if isinstance(node, ast.ClassDef) and node.name == target.class_name]
    if not classes:
        if not binds_name(statements, target.class_name):
            yield CLASS_MISSING(f"class {target.class_name} is not defined in {rel}", rel)
        return
    cls = classes[-1]
    if not _subclasses_sdk(cls, *sdk_backend_names(statements)):
        local = any(isinstance(node, ast.ClassDef) and node.name == "InferenceBackend" for node in statements)
        why = " (the module defines its own class of that name)" if local else ""
        yield NOT_A_BACKEND(f"class {target.class_name} does not subclass packflow's InferenceBackend{why}", rel,
                            cls.lineno)
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "execute":
            if execute_fingerprint(node) in TEMPLATE_EXECUTE_FINGERPRINTS:
                yield TEMPLATE_EXAMPLE(f"{target.class_name}.execute() is still the template's example", rel,
                                       node.lineno)


# Sample inputs --------------------------------------------------------------------------------------------------

def check_samples(ctx: Context) -> Iterator[Finding]:
    if ctx.view.kind(SAMPLES) is None:
        yield SAMPLES_MISSING(f"no {SAMPLES}: the load proof can load the backend but not run it", None)
        return
    text = read_text(ctx.view, SAMPLES)
    if isinstance(text, Finding):
        yield text
        return
    samples = read_samples(text)
    if samples.problem:
        yield SAMPLES_INVALID(f"{SAMPLES} {samples.problem}", SAMPLES, samples.line)


# What the backend needs: project modules, third-party imports, data files ------------------------------------

def _found_elsewhere(ctx: Context, tail: list[str]) -> Optional[str]:
    """Where in a project folder the module is, when it is not where Packflow looks (None for an archive)."""
    root = getattr(ctx.view, "root", None)
    if root is None:
        return None
    for candidate in tail:
        matches = sorted(p.relative_to(root).as_posix() for p in root.glob(f"**/{candidate}"))
        if matches:
            return matches[0]
    return None


def check_module_loader(ctx: Context) -> Iterator[Finding]:
    """loader: module: the module must be importable from the archive's root or installed by a requirement."""
    target = ctx.backend
    if target is None or target.loader != "module" or ctx.backend_module:
        return
    top = target.module.split(".")[0]
    if top == "packflow" or provided(top, ctx.requirements, installed_distributions()):
        return
    tail = naming.backend_paths(target.module, "module")
    elsewhere = _found_elsewhere(ctx, tail)
    where = (f"it is at {elsewhere}, and Packflow adds only the project folder to sys.path"
             if elsewhere else "it is not in the project")
    yield MODULE_NOT_IMPORTABLE(f"the archive will not load: module {target.module!r} cannot be imported ({where}) "
                                f"and no requirement in requirements.txt provides it", elsewhere or CONFIG, None,
                                f"Move it to {tail[0]} (or {tail[1]}), or make it an installable requirement.")


def _third_party(view: View, top: str) -> bool:
    return not (top in sys.stdlib_module_names or top in ("packflow", "__future__") or module_file(view, top))


def check_imports(ctx: Context) -> Iterator[Finding]:
    """Third-party imports of the backend and the project modules it imports, each declared in requirements.txt."""
    installed: Optional[Distributions] = None
    reported_imports = set()
    for module in ctx.modules:
        for name, line in module.imports:
            top = name.split(".")[0]
            if (module.path, top) in reported_imports or not _third_party(ctx.view, top):
                continue
            if installed is None:
                installed = installed_distributions()
            if provided(top, ctx.requirements, installed):
                continue
            reported_imports.add((module.path, top))
            distribution = distribution_of(top, installed)
            named = f" (distribution {distribution})" if distribution != top else ""
            yield UNDECLARED_IMPORT(f"{module.path} imports {top}{named}, which requirements.txt does not list",
                                    module.path, line,
                                    f"Add {distribution}==<the version you tested with> to requirements.txt.")


def looks_like_data_file(text: str) -> bool:
    from pathlib import PurePosixPath

    if not text or len(text) > 200 or any(c in text for c in " \n\t\r*?<>|:{}%$") or text.startswith(("/", "~", ".")):
        return False
    return PurePosixPath(text).suffix.lower() in DATA_SUFFIXES


def _left_out(view: View, selection: Optional[Selection], candidates: list[str]) -> tuple[bool, Optional[str]]:
    """(whether the archive lacks the file, the ignore rule that leaves it out when one does)."""
    present = [c for c in candidates if view.kind(c) is not None]
    if selection is None:
        return not present, None
    if any(not selection.why_excluded(c) and view.kind(c) == "file" for c in present):
        return False, None
    return True, next((selection.why_excluded(c) for c in present if selection.why_excluded(c)), None)


def _data_files(module: ProjectModule, view: View, selection: Optional[Selection],
                reported_literals: set[str]) -> Iterator[Finding]:
    folder = dirname(module.path)
    for literal, line in path_literals(module.tree):
        if not looks_like_data_file(literal) or literal in reported_literals:
            continue
        candidates = [normpath(literal)] + ([normpath(join(folder, literal))] if folder else [])
        if any(c.startswith("..") for c in candidates):
            continue
        lacking, why = _left_out(view, selection, candidates)
        if not lacking:
            continue
        reported_literals.add(literal)
        if why:
            yield DATA_FILE_LEFT_OUT(f"{module.path} reads {literal}, which the archive leaves out ({why})",
                                     module.path, line)
        else:
            where = "the archive" if selection is None else "the project"
            yield DATA_FILE_LEFT_OUT(f"{module.path} reads {literal}, which is not in {where}", module.path, line)


def check_data_files(ctx: Context) -> Iterator[Finding]:
    """Files named in the backend's string literals that exist but are left out of the archive, or do not exist."""
    reported_literals: set[str] = set()
    for module in ctx.modules:
        yield from _data_files(module, ctx.view, ctx.selection, reported_literals)


RULES = (SYNTAX_ERROR, CLASS_MISSING, NOT_A_BACKEND, TEMPLATE_EXAMPLE, MODULE_NOT_IMPORTABLE, UNDECLARED_IMPORT,
         DATA_FILE_LEFT_OUT, SAMPLES_INVALID, SAMPLES_MISSING)
CHECKS = (
    Check("backend", check_backend, raises=(BACKEND_MISSING, UNREADABLE, SYNTAX_ERROR, CLASS_MISSING, NOT_A_BACKEND,
                                            TEMPLATE_EXAMPLE)),
    Check("module loader", check_module_loader, raises=(MODULE_NOT_IMPORTABLE,)),
    Check("imports", check_imports, raises=(UNDECLARED_IMPORT,)),
    Check("data files", check_data_files, raises=(DATA_FILE_LEFT_OUT,)),
    Check("samples", check_samples, raises=(UNREADABLE, SAMPLES_INVALID, SAMPLES_MISSING)),
)
