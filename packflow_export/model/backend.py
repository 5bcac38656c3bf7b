"""The backend's code as facts: which module Packflow loads, the project modules it imports (transitively), the
third-party imports they make and the files their string literals name. Static analysis only: project code is
never imported here.
"""

from __future__ import annotations

import ast
from typing import Callable, Iterator, Mapping, NamedTuple, Optional, Sequence

from .. import naming
from .config import ProjectConfig
from .problems import Problem, ProblemKind, unreadable
from .requirements import Requirements, normalized_name
from .views import Unreadable, View, read_source

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
Distributions = Mapping[str, Sequence[str]]  # import name -> distributions providing it


class BackendTarget(NamedTuple):
    """What inference_backend and loader name, when both are usable."""

    module: str
    class_name: str
    loader: str


class ParsedModule(NamedTuple):
    """A project module's syntax tree, or the problem (unreadable, or a syntax error) that kept it from parsing."""

    path: str
    tree: Optional[ast.Module]
    problem: Optional[Problem]


class ProjectModule(NamedTuple):
    """A project module the backend runs: its path, its tree and the (absolute module, line) of each import."""

    path: str
    tree: ast.Module
    imports: list[tuple[str, int]]


def backend_target(config: ProjectConfig) -> Optional[BackendTarget]:
    """What the backend is when inference_backend and loader are usable, else None (the config family says why)."""
    backend = config.text_field("inference_backend")
    loader = config.fields.get("loader", "local")
    if backend is None or naming.backend_problem(backend) or loader not in naming.LOADERS:
        return None
    module, class_name = backend.split(":")
    return BackendTarget(module, class_name, loader)


def find_backend_module(view: View, target: Optional[BackendTarget]) -> Optional[str]:
    """The project file Packflow would load the backend from, or None; a link that leads outside still counts, so
    the checks that read it say why it cannot be read rather than that it is missing."""
    if target is None:
        return None
    return next((rel for rel in naming.backend_paths(target.module, target.loader)
                 if view.kind(rel) in ("file", "other")), None)


def module_file(view: View, dotted: str) -> Optional[str]:
    """The project file that `import dotted` finds with the project folder on sys.path, or None."""
    for rel in naming.backend_paths(dotted, "module"):
        if view.kind(rel) == "file":
            return rel
    return None


def parse_module(view: View, rel: str) -> ParsedModule:
    """Read and parse one module; what keeps it from parsing is the problem."""
    try:
        source = read_source(view, rel)
    except Unreadable as exc:
        return ParsedModule(rel, None, unreadable(rel, str(exc), exc.line, exc.hint))
    try:
        return ParsedModule(rel, ast.parse(source, filename=rel), None)
    except SyntaxError as exc:
        return ParsedModule(rel, None, Problem(ProblemKind.SYNTAX_ERROR, f"{rel} has a syntax error: {exc.msg}", rel,
                                               exc.lineno))
    except (ValueError, RecursionError, MemoryError) as exc:
        return ParsedModule(rel, None, Problem(ProblemKind.SYNTAX_ERROR, f"{rel} cannot be parsed: {exc}", rel))


def _optional(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
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


def _from_import(node: ast.ImportFrom, package: str) -> list[tuple[str, int]]:
    """The absolute modules (and names, which may be submodules) a `from ... import ...` statement imports."""
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
        module = ".".join(base + ([node.module] if node.module else []))
        found = [(f"{module}.{a.name}" if module else a.name, node.lineno) for a in node.names]
        return found + ([(module, node.lineno)] if module else [])
    if node.module:
        return [(node.module, node.lineno)] + [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names
                                               if alias.name != "*"]
    return []


def imports_of(tree: ast.Module, package: str) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import the module can run (optional imports left out)."""
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and not _optional(node, parents):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not _optional(node, parents):
            found += _from_import(node, package)
    return found


def project_modules(view: View, target: Optional[BackendTarget], start: Optional[str],
                    parse: Callable[[str], ParsedModule]) -> list[ProjectModule]:
    """The backend module (`start`) and every project module it imports, transitively, that parses."""
    if start is None or target is None:
        return []
    seen, result, pending = {start}, [], [(start, target.module)]
    while pending:
        rel, dotted = pending.pop()
        tree = parse(rel).tree
        if tree is None:
            continue
        package = dotted if rel.endswith("__init__.py") else dotted.rpartition(".")[0]
        imports = imports_of(tree, package if target.loader == "module" else "")
        result.append(ProjectModule(rel, tree, imports))
        for name, _ in imports:
            found = module_file(view, name)
            if found and found not in seen:
                seen.add(found)
                pending.append((found, name))
    return result


def installed_distributions() -> Distributions:
    """Import names of the running environment's installed distributions (a hint, never a failure)."""
    try:
        from importlib.metadata import packages_distributions

        return packages_distributions()
    except Exception:  # noqa: BLE001 - metadata is a hint, never a failure
        return {}


def distribution_of(top: str, installed: Optional[Distributions] = None) -> str:
    """The distribution that provides an import name: the table, else installed metadata, else the name."""
    if top in IMPORT_DISTRIBUTIONS:
        return IMPORT_DISTRIBUTIONS[top]
    found = (installed or {}).get(top)
    return found[0] if found else top


def provided(top: str, requirements: Requirements, installed: Distributions) -> bool:
    """Whether a requirement installs the import name."""
    candidates = {top, distribution_of(top, installed), *installed.get(top, [])}
    return any(normalized_name(name) in requirements.names for name in candidates)


def _docstrings(tree: ast.Module) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _joined_parts(node: ast.AST) -> Optional[list[ast.Constant]]:
    """The string constants of a path built by `/` or os.path.join (None when the node builds no path)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        parts: list[ast.Constant] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp) and isinstance(current.op, ast.Div):
            if isinstance(current.right, ast.Constant) and isinstance(current.right.value, str):
                parts.insert(0, current.right)
                current = current.left
            else:
                break
        if isinstance(current, ast.Constant) and isinstance(current.value, str):
            parts.insert(0, current)
        return parts
    if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("path.join"):
        return [arg for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return None


def path_literals(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """(relative path, line) of string literals that may name a file: 'model.joblib', Path(...) / 'w' / 'x.bin'."""
    docstrings = _docstrings(tree)
    joined: set[int] = set()
    for node in ast.walk(tree):
        parts = _joined_parts(node)
        if parts and len(parts) > 1:
            joined.update(id(part) for part in parts)
            yield "/".join(str(part.value).strip("/") for part in parts), getattr(node, "lineno", 0)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in joined \
                and id(node) not in docstrings:
            yield node.value, node.lineno
