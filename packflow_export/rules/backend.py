"""The backend module: it parses, defines the class Packflow loads, subclasses InferenceBackend and has real
inference (PF5xx). Static analysis only: project code is never imported here.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Iterable, Optional

from .. import naming
from ..findings import Finding, define
from .config import CONFIG
from .files import BACKEND_MISSING, read_source

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


def execute_fingerprint(function) -> str:
    """A hash of a method's code that ignores its docstring, comments and formatting."""
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return hashlib.sha256("\n".join(ast.dump(statement) for statement in body).encode()).hexdigest()


def backend_target(config) -> Optional[tuple]:
    """(module, class, loader) when inference_backend and loader are usable, else None (the config family reports why)."""
    backend = config.text_field("inference_backend")
    loader = config.fields.get("loader", "local")
    if backend is None or naming.backend_problem(backend) or loader not in naming.LOADERS:
        return None
    module, class_name = backend.split(":")
    return module, class_name, loader


def find_backend_module(view, config) -> Optional[str]:
    """The project file Packflow would load the backend from, or None; a link that leads outside still counts, so
    the checks that read it say why it cannot be read rather than that it is missing."""
    target = backend_target(config)
    if target is None:
        return None
    return next((rel for rel in naming.backend_paths(target[0], target[2]) if view.kind(rel) in ("file", "other")),
                None)


def module_statements(body: list) -> Iterable[ast.stmt]:
    """Statements that run when the module is imported: the top level and the blocks of if/try/with/for/while."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        blocks = []
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            blocks = [node.body, node.orelse]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            blocks = [node.body]
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            blocks = [node.body, *(handler.body for handler in node.handlers), node.orelse, node.finalbody]
        for block in reversed(blocks):
            stack.extend(reversed(block))


def sdk_backend_names(statements: list) -> tuple:
    """(names bound to packflow's InferenceBackend, names bound to the packflow module), in this module's scope."""
    direct, modules = set(), set()
    for node in statements:
        if isinstance(node, ast.ImportFrom) and node.module in SDK_MODULES and not node.level:
            direct.update(alias.asname or alias.name for alias in node.names if alias.name == "InferenceBackend")
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names if alias.name in SDK_MODULES)
    for node in statements:  # a later local definition rebinds the name
        if isinstance(node, ast.ClassDef) and node.name in direct:
            direct.discard(node.name)
    return direct, modules


def binds_name(statements: list, name: str) -> bool:
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


def check_backend(view, config) -> Iterable[Finding]:
    """The backend module parses, defines the class, subclasses InferenceBackend and has a real execute()."""
    target = backend_target(config)
    if target is None:
        return
    module, class_name, loader = target
    rel = find_backend_module(view, config)
    if rel is None:
        candidates = naming.backend_paths(module, loader)
        if loader == "local":
            package = naming.backend_paths(module, "module")[1]
            hint = (f"Packflow's local loader reads {candidates[0]}; a package ({package}) needs loader: module."
                    if view.kind(package) == "file" else None)
            yield BACKEND_MISSING(f"{candidates[0]} is missing (inference_backend {module}:{class_name}, loader local)",
                                  candidates[0], None, hint)
        return
    source, problem = read_source(view, rel)
    if problem:
        yield problem
        return
    try:
        tree = ast.parse(source, filename=rel)
    except SyntaxError as exc:
        yield SYNTAX_ERROR(f"{rel} has a syntax error: {exc.msg}", rel, exc.lineno)
        return
    except (ValueError, RecursionError, MemoryError) as exc:
        yield SYNTAX_ERROR(f"{rel} cannot be parsed: {exc}", rel)
        return
    statements = list(module_statements(tree.body))
    classes = [node for node in statements if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not classes:
        if not binds_name(statements, class_name):
            yield CLASS_MISSING(f"class {class_name} is not defined in {rel}", rel)
        return
    cls = classes[-1]
    direct, modules = sdk_backend_names(statements)
    subclasses = any(
        (isinstance(base, ast.Name) and base.id in direct)
        or (isinstance(base, ast.Attribute) and base.attr == "InferenceBackend"
            and isinstance(base.value, (ast.Name, ast.Attribute)) and ast.unparse(base.value) in modules)
        for base in cls.bases)
    if not subclasses:
        local = any(isinstance(node, ast.ClassDef) and node.name == "InferenceBackend" for node in statements)
        why = " (the module defines its own class of that name)" if local else ""
        yield NOT_A_BACKEND(f"class {class_name} does not subclass packflow's InferenceBackend{why}", rel, cls.lineno)
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "execute":
            if execute_fingerprint(node) in TEMPLATE_EXECUTE_FINGERPRINTS:
                yield TEMPLATE_EXAMPLE(f"{class_name}.execute() is still the template's example", rel, node.lineno)


# Sample inputs --------------------------------------------------------------------------------------------------

SAMPLES = "sample_inputs.json"


def read_samples(text: str) -> tuple:
    """(records, None) for a JSON list of objects, else (None, why not and on which line)."""
    import json

    try:
        records = json.loads(text)
    except ValueError as exc:
        return None, (f"is not JSON: {getattr(exc, 'msg', exc)}", getattr(exc, "lineno", None))
    if not isinstance(records, list) or not records:
        return None, ("must be a non-empty JSON list of input records", 1)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            return None, (f"item {index} is {type(record).__name__}, not an object (a record of named fields)", None)
    return records, None


def check_samples(view) -> Iterable[Finding]:
    from .files import read_text

    if view.kind(SAMPLES) is None:
        yield SAMPLES_MISSING(f"no {SAMPLES}: the load proof can load the backend but not run it", None)
        return
    text, problem = read_text(view, SAMPLES)
    if problem:
        yield problem
        return
    _, invalid = read_samples(text)
    if invalid:
        yield SAMPLES_INVALID(f"{SAMPLES} {invalid[0]}", SAMPLES, invalid[1])


# What the backend needs: project modules, third-party imports, data files ------------------------------------

# Import names whose distribution is named otherwise (installed metadata answers for the rest when it can).
IMPORT_DISTRIBUTIONS = {
    "sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "Pillow", "yaml": "PyYAML", "skimage": "scikit-image",
    "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "dotenv": "python-dotenv", "attr": "attrs",
    "Crypto": "pycryptodome", "jwt": "PyJWT", "magic": "python-magic", "serial": "pyserial", "OpenSSL": "pyOpenSSL",
    "docx": "python-docx", "pptx": "python-pptx", "fitz": "PyMuPDF", "git": "GitPython", "zmq": "pyzmq",
    "MySQLdb": "mysqlclient", "psycopg2": "psycopg2-binary", "faiss": "faiss-cpu", "Levenshtein": "Levenshtein",
    "nacl": "PyNaCl", "jose": "python-jose", "kafka": "kafka-python", "pkg_resources": "setuptools",
    "sentence_transformers": "sentence-transformers", "huggingface_hub": "huggingface-hub",
    "tensorflow_hub": "tensorflow-hub", "google": "protobuf", "multipart": "python-multipart",
}
DATA_SUFFIXES = frozenset({
    ".joblib", ".pkl", ".pickle", ".pt", ".pth", ".bin", ".safetensors", ".onnx", ".h5", ".hdf5", ".keras", ".pb",
    ".tflite", ".ckpt", ".gguf", ".npy", ".npz", ".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt", ".yaml",
    ".yml", ".model", ".vocab", ".spm", ".msgpack", ".arrow", ".feather", ".db", ".sqlite", ".xml", ".pmml",
})


def module_file(view, dotted: str) -> Optional[str]:
    """The project file that `import dotted` finds with the project folder on sys.path, or None."""
    for rel in naming.backend_paths(dotted, "module"):
        if view.kind(rel) == "file":
            return rel
    return None


def _parse(view, rel: str):
    source, problem = read_source(view, rel)
    if problem:
        return None
    try:
        return ast.parse(source, filename=rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _optional(node, parents: dict) -> bool:
    """An import inside `try: ... except ImportError:` (or a TYPE_CHECKING block) is allowed to fail."""
    child = node
    while id(child) in parents:
        parent = parents[id(child)]
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = {ast.unparse(handler.type)} if handler.type is not None else {"Exception"}
                if isinstance(handler.type, ast.Tuple):
                    names = {ast.unparse(e) for e in handler.type.elts}
                if names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}:
                    return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test) and child in parent.body:
            return True
        child = parent
    return False


def imports_of(tree, package: str) -> list:
    """(absolute module name, line) of every import the module can run (optional imports left out)."""
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and not _optional(node, parents):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not _optional(node, parents):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                module = ".".join(base + ([node.module] if node.module else []))
                found += [(f"{module}.{a.name}" if module else a.name, node.lineno) for a in node.names]
                if module:
                    found.append((module, node.lineno))
            elif node.module:
                found.append((node.module, node.lineno))
                found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def project_modules(view, config) -> list:
    """(path, tree, imports) of the backend module and every project module it imports, transitively."""
    start = find_backend_module(view, config)
    target = backend_target(config)
    if start is None or target is None:
        return []
    module, _, loader = target
    seen, result, pending = {start}, [], [(start, module)]
    while pending:
        rel, dotted = pending.pop()
        tree = _parse(view, rel)
        if tree is None:
            continue
        package = dotted if rel.endswith("__init__.py") else dotted.rpartition(".")[0]
        imports = imports_of(tree, package if loader == "module" else "")
        result.append((rel, tree, imports))
        for name, _ in imports:
            found = module_file(view, name)
            if found and found not in seen:
                seen.add(found)
                pending.append((found, name))
    return result


def _installed_distributions() -> dict:
    try:
        from importlib.metadata import packages_distributions

        return packages_distributions()
    except Exception:  # noqa: BLE001 - metadata is a hint, never a failure
        return {}


def distribution_of(top: str, installed: Optional[dict] = None) -> str:
    """The distribution that provides an import name: the table, else installed metadata, else the name."""
    if top in IMPORT_DISTRIBUTIONS:
        return IMPORT_DISTRIBUTIONS[top]
    found = (installed or {}).get(top)
    return found[0] if found else top


def provided(top: str, requirements, installed: dict) -> bool:
    """Whether a requirement installs the import name."""
    from .requirements import normalized_name

    candidates = {top, distribution_of(top, installed), *installed.get(top, [])}
    return any(normalized_name(name) in requirements.names for name in candidates)


def check_module_loader(view, config, requirements) -> Iterable[Finding]:
    """loader: module: the module must be importable from the archive's root or installed by a requirement."""
    target = backend_target(config)
    if target is None or target[2] != "module" or find_backend_module(view, config):
        return
    module = target[0]
    top = module.split(".")[0]
    installed = _installed_distributions()
    if top == "packflow" or provided(top, requirements, installed):
        return
    tail = naming.backend_paths(module, "module")
    elsewhere = None
    if hasattr(view, "root"):
        for candidate in tail:
            matches = sorted(p.relative_to(view.root).as_posix() for p in view.root.glob(f"**/{candidate}"))
            if matches:
                elsewhere = matches[0]
                break
    where = (f"it is at {elsewhere}, and Packflow adds only the project folder to sys.path"
             if elsewhere else "it is not in the project")
    yield MODULE_NOT_IMPORTABLE(f"the archive will not load: module {module!r} cannot be imported ({where}) and no "
                                f"requirement in requirements.txt provides it", elsewhere or CONFIG, None,
                                f"Move it to {tail[0]} (or {tail[1]}), or make it an installable requirement.")


def check_imports(modules: list, view, requirements) -> Iterable[Finding]:
    """Third-party imports of the backend and the project modules it imports, each declared in requirements.txt."""
    import sys

    installed = None
    reported = set()
    for rel, _, imports in modules:
        for name, line in imports:
            top = name.split(".")[0]
            if (top in sys.stdlib_module_names or top in ("packflow", "__future__") or module_file(view, top)
                    or (rel, top) in reported):
                continue
            if installed is None:
                installed = _installed_distributions()
            if provided(top, requirements, installed):
                continue
            reported.add((rel, top))
            distribution = distribution_of(top, installed)
            named = f" (distribution {distribution})" if distribution != top else ""
            yield UNDECLARED_IMPORT(f"{rel} imports {top}{named}, which requirements.txt does not list", rel, line,
                                    f"Add {distribution}==<the version you tested with> to requirements.txt.")


def path_literals(tree) -> Iterable[tuple]:
    """(relative path, line) of string literals that name a file: 'model.joblib', Path(...) / 'weights' / 'x.bin'."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    joined = set()
    for node in ast.walk(tree):
        parts = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts, current = [], node
            while isinstance(current, ast.BinOp) and isinstance(current.op, ast.Div):
                if isinstance(current.right, ast.Constant) and isinstance(current.right.value, str):
                    parts.insert(0, current.right)
                    current = current.left
                else:
                    break
            if isinstance(current, ast.Constant) and isinstance(current.value, str):
                parts.insert(0, current)
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("path.join"):
            parts = [arg for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        if parts and len(parts) > 1:
            joined.update(id(part) for part in parts)
            yield "/".join(part.value.strip("/") for part in parts), node.lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in joined \
                and id(node) not in docstrings:
            yield node.value, node.lineno


def looks_like_data_file(text: str) -> bool:
    from pathlib import PurePosixPath

    if not text or len(text) > 200 or any(c in text for c in " \n\t\r*?<>|:{}%$") or text.startswith(("/", "~", ".")):
        return False
    return PurePosixPath(text).suffix.lower() in DATA_SUFFIXES


def check_data_files(modules: list, view, selection) -> Iterable[Finding]:
    """Files named in the backend's string literals that exist but are left out of the archive, or do not exist."""
    from posixpath import dirname, join, normpath

    reported = set()
    for rel, tree, _ in modules:
        folder = dirname(rel)
        for literal, line in path_literals(tree):
            if not looks_like_data_file(literal) or literal in reported:
                continue
            candidates = [normpath(literal)] + ([normpath(join(folder, literal))] if folder else [])
            if any(c.startswith("..") for c in candidates):
                continue
            present = [c for c in candidates if view.kind(c) is not None]
            if selection is not None:
                kept = [c for c in present if not selection.why_excluded(c) and view.kind(c) == "file"]
                if kept:
                    continue
                why = next((selection.why_excluded(c) for c in present if selection.why_excluded(c)), None)
            else:
                if present:
                    continue
                why = None
            reported.add(literal)
            if why:
                yield DATA_FILE_LEFT_OUT(f"{rel} reads {literal}, which the archive leaves out ({why})", rel, line)
            else:
                where = "the archive" if selection is None else "the project"
                yield DATA_FILE_LEFT_OUT(f"{rel} reads {literal}, which is not in {where}", rel, line)
