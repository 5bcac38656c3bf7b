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
MODULE_NOT_IN_PROJECT = define(
    "PF505", "info", "the backend module is not in the project (loader: module)",
    why="loader: module imports the module from the environment; it must come from requirements.txt.",
    fix="Make sure requirements.txt installs the module, or ship it in the project.")

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
    """The project file Packflow would load the backend from, or None."""
    target = backend_target(config)
    if target is None:
        return None
    return next((rel for rel in naming.backend_paths(target[0], target[2]) if view.kind(rel) == "file"), None)


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
        else:
            yield MODULE_NOT_IN_PROJECT(f"module {module!r} is not in the project; loader: module imports it from "
                                        f"the environment", CONFIG)
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
