"""The rule registry and the runner: built explicitly from the families, every code raised by a declared check,
no code-string branching, no import cycle, and each command running the checks its subject and options call for."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

import pytest

from helpers import REPO

from packflow_export.findings import Rule, RuleError, define
from packflow_export.model.context import Subject
from packflow_export.rules import FAMILIES, Registry, registry
from packflow_export.rules.check import Check, Need, Stage

PACKAGE = REPO / "packflow_export"


def test_every_defined_rule_is_listed_by_its_family_and_raised_by_a_check():
    rules = registry().rules
    defined = {value.code for family in FAMILIES for value in vars(family).values() if isinstance(value, Rule)}
    assert defined == set(rules), "a rule defined in a family module must be in that family's RULES"
    raised = {rule.code for check in registry().checks for rule in check.raises}
    assert raised == set(rules), f"no check declares it raises {sorted(set(rules) - raised)}"


def test_every_check_runs_somewhere_and_archive_only_codes_are_the_archives():
    assert all(check.subjects for check in registry().checks)
    only_archive = registry().codes_only_on(Subject.ARCHIVE)
    assert {"PF901", "PF903", "PF907", "PF951", "PF958"} <= only_archive
    assert not {"PF301", "PF701", "PF801", "PF805"} & only_archive


def test_the_registry_refuses_a_code_defined_twice_or_a_check_raising_an_unlisted_rule():
    first = define("PF990", "error", "a", why="b", fix="c")
    twin = define("PF990", "warning", "a", why="b", fix="c")
    family = ModuleType("family")
    family.RULES, family.CHECKS = (first,), ()
    other = ModuleType("other")
    other.RULES, other.CHECKS = (twin,), ()
    with pytest.raises(RuleError, match="PF990 is defined twice"):
        Registry.build([family, other])
    stray = ModuleType("stray")
    stray.RULES, stray.CHECKS = (), (Check("stray", lambda ctx: [], raises=(first,)),)
    with pytest.raises(RuleError, match="no family lists: PF990"):
        Registry.build([stray])
    impossible = ModuleType("impossible")
    impossible.RULES, impossible.CHECKS = (first,), (Check("both", lambda ctx: [], (first,), Need.GIT | Need.LOAD),)
    with pytest.raises(RuleError, match="could never run"):
        Registry.build([impossible])


@pytest.mark.parametrize("code, severity", [("PF1", "error"), ("XX101", "error"), ("PF101", "fatal")])
def test_define_refuses_a_malformed_rule_even_under_python_O(code, severity):
    with pytest.raises(RuleError):
        define(code, severity, "summary", why="why", fix="fix")


def test_integrity_rules_are_the_archives_records_and_unpackable_names():
    integrity = {code for code, rule in registry().rules.items() if rule.integrity}
    assert integrity == {"PF805", "PF901", "PF902", "PF903", "PF904", "PF905", "PF910", "PF959"}


def test_stages_order_an_archives_checks_records_first_seal_last():
    stages = {check.name: check.stage for check in registry().checks}
    assert stages["end record"] is Stage.LOCATE and stages["layout"] is Stage.RECORDS
    assert stages["load proof"] is Stage.RUN and stages["tests"] is Stage.RUN and stages["sidecar"] is Stage.SEAL


# The source itself ---------------------------------------------------------------------------------------------------

def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its __init__)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that a module imports anywhere: at the top, in a function, under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            submodules = {f"{module}.{alias.name}" for alias in node.names}
            # `from . import sibling` inside a package names the sibling module: the package itself is
            # already being initialised (it is an ancestor), so that is no edge back to it.
            if not (name.startswith(module + ".") and submodules <= known):
                found.add(module)
            found |= submodules
    return {module for module in found if module in known and module != name}


def test_no_import_cycle_in_packflow_export():
    """Read from the source (no import runs): an edge for every import statement, to the module it names."""
    known = modules()
    graph = {name: imports_of(name, path, set(known)) for name, path in known.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = trail[trail.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, trail + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert graph["packflow_export.rules"] and graph["packflow_export.rules.runner"]


def test_model_is_below_the_rules_and_commands_use_the_model():
    known = modules()
    for name, path in known.items():
        imported = imports_of(name, path, set(known))
        if name.startswith("packflow_export.model"):
            above = {m for m in imported if not m.startswith("packflow_export.model")}
            assert above <= {"packflow_export.naming", "packflow_export.findings", "packflow_export.errors",
                             "packflow_export.archive", "packflow_export.archive.zipformat",
                             "packflow_export"}, (name, above)
        if name.rpartition(".")[2] in ("load", "release", "sbom", "verify") and ".rules" not in name:
            assert not {m for m in imported if m.startswith("packflow_export.rules") and m != "packflow_export.rules.runner"}, name


CODE_STRING = re.compile(r"PF[0-9x]{0,3}")


def test_no_code_branches_on_rule_code_strings():
    """A rule code appears in the package only where the rule is defined: behaviour hangs on rule attributes."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
                   and getattr(node.func, "id", None) == "define" and node.args}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE_STRING.fullmatch(node.value):
                assert id(node) in defined, f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r} outside define()"


# Files a maintainer touches: a readiness rule is its family module (and its test) -----------------------------------

THROWAWAY_FAMILY = '''"""Contact: the model card says whom to ask about the model (PF99x), a family added by a fork."""

from __future__ import annotations

from typing import Iterator

from ..findings import Finding, define
from ..model.context import Context
from .check import Check

NO_CONTACT = define(
    "PF990", "warning", "MODEL_CARD.md names no contact",
    why="Whoever runs the model needs someone to ask when it misbehaves.",
    fix="Add a `## Contact` section to MODEL_CARD.md.")


def check_contact(ctx: Context) -> Iterator[Finding]:
    if "## Contact" not in ctx.view.read("MODEL_CARD.md", 1 << 20).decode("utf-8"):
        yield NO_CONTACT("MODEL_CARD.md has no Contact section", "MODEL_CARD.md")


RULES = (NO_CONTACT,)
CHECKS = (Check("contact", check_contact, raises=RULES),)
'''


def test_a_new_rule_family_is_one_module_and_its_entry_in_the_family_list(tmp_path, default_bake):
    import json
    import os
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "fork"
    shutil.copytree(PACKAGE, copy / "packflow_export", ignore=shutil.ignore_patterns("__pycache__"))
    rules = copy / "packflow_export" / "rules"
    (rules / "contact.py").write_text(THROWAWAY_FAMILY, encoding="utf-8")
    source = (rules / "__init__.py").read_text(encoding="utf-8")
    listed = source.replace("from . import advisories,", "from . import contact, advisories,", 1)
    listed = listed.replace("FAMILIES: tuple[ModuleType, ...] = (", "FAMILIES: tuple[ModuleType, ...] = (contact, ", 1)
    assert listed.count("contact") == 2
    (rules / "__init__.py").write_text(listed, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(copy))  # the fork's copy, not this repository's package
    checked = subprocess.run([sys.executable, "-m", "packflow_export", "check", str(default_bake), "--json"],
                             capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    report = json.loads(checked.stdout)
    assert checked.returncode == 0 and "PF990" in {f["code"] for f in report["findings"]}, checked.stderr
    explained = subprocess.run([sys.executable, "-m", "packflow_export", "rules", "PF990"], capture_output=True,
                               text=True, env=env, timeout=60, cwd=tmp_path)
    assert "Add a `## Contact` section" in explained.stdout
