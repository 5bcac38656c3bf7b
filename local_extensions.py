"""Jinja helpers of the template: answer validation, where projects get packflow-export, and the filters the
template files use.

The naming rules themselves are packflow_export/naming.py (shared with the checker and the JSON Schema),
loaded by path: cookiecutter runs before packflow-export is installed, and an installed copy of another
version must not answer for this template. A fork's own answer rules are data, answers.json. Hooks receive
everything computed here as data (tojson). Standard library only, besides the Jinja that cookiecutter runs.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote, unquote, urlparse

from jinja2 import pass_environment
from jinja2.ext import Extension

TEMPLATE_ROOT = Path(__file__).resolve().parent
LAUNCH_DIR = Path.cwd()  # cookiecutter imports this before it changes folders: where the user typed the command
ANSWERS_FILE = "answers.json"
ANSWER_RULE_KEYS = ("pattern", "message", "extra")
TEMPLATE_EXTRA = ("project_name", "organization", "license")  # packflow.yaml's extra: keys the template writes itself
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _load_naming():
    path = TEMPLATE_ROOT / "packflow_export" / "naming.py"
    spec = importlib.util.spec_from_file_location("_packflow_template_naming", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naming = _load_naming()
ONE_LINE = ("project_name", "project_slug", "description", "version", "organization", "maintainers", "python_version",
            "packflow_version", "inference_backend")


def _repo_dir(context) -> Path:
    """The template being baked: cookiecutter's absolute _repo_dir, else the folder this file was imported from."""
    given = Path(str(context.get("_repo_dir") or ""))
    return given if given.is_absolute() and (given / "cookiecutter.json").is_file() else TEMPLATE_ROOT


def answer_rules(context) -> tuple:
    """(rules by variable, problems of answers.json itself): a fork's validation and placement of answers, as data."""
    path = _repo_dir(context) / ANSWERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {}, [[ANSWERS_FILE, f"cannot be read as JSON: {exc}", None]]
    rules = data.get("answers", {}) if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        return {}, [[ANSWERS_FILE, 'must be an object with "answers": {"<variable>": {...}}', None]]
    problems = []
    for variable, rule in rules.items():
        problem = _rule_problem(context, variable, rule)
        if problem:
            problems.append([ANSWERS_FILE, f"{variable}: {problem}", None])
    return ({} if problems else rules), problems


def _rule_problem(context, variable: str, rule) -> Optional[str]:
    if variable not in context or variable.startswith("_"):
        return "is not a prompt in cookiecutter.json; add it there first"
    if not isinstance(rule, dict) or set(rule) - set(ANSWER_RULE_KEYS):
        return f"must be an object with some of {', '.join(ANSWER_RULE_KEYS)}"
    if "pattern" in rule:
        if not isinstance(rule.get("message"), str) or not rule["message"].strip():
            return 'a "pattern" needs a "message" saying what a good answer looks like'
        try:
            re.compile(rule["pattern"])
        except (re.error, TypeError) as exc:
            return f"pattern {rule['pattern']!r} is not a regular expression: {exc}"
    if not isinstance(rule.get("extra", False), bool):
        return '"extra" must be true or false'
    if rule.get("extra") and (not FIELD_NAME.fullmatch(variable) or variable in TEMPLATE_EXTRA):
        return f"cannot be written under extra: (use letters, digits and '_', and none of {', '.join(TEMPLATE_EXTRA)})"
    return None


def _suggest_packflow(value: str) -> str:
    return naming.supported_packflow()["tested"][-1]


def _backend_problem(value: str) -> Optional[str]:
    return naming.backend_problem(value) or naming.backend_shadow_problem(value.split(":")[0])


# Each answer's rule, and where one exists the value its message suggests (kept in the re-run command).
CHECKS: dict = {
    "project_slug": (naming.name_problem, None),
    "version": (naming.version_problem, naming.normalize_version),
    "python_version": (naming.python_version_problem, None),
    "packflow_version": (naming.packflow_version_problem, _suggest_packflow),
    "inference_backend": (_backend_problem, None),
}


def _problem_of(variable: str, value: str, check: Callable, suggest: Optional[Callable]) -> Optional[list]:
    problem = check(value)
    if not problem:
        return None
    suggestion = suggest(value) if suggest else None
    return [variable, problem, suggestion if suggestion and not check(suggestion) else ""]


def answer_problems(context) -> list:
    """[variable, message, suggested value or ""] for every answer that would bake a broken project."""
    rules, found = answer_rules(context)
    for variable in (*ONE_LINE, *(name for name in rules if isinstance(context.get(name), str))):
        problem = naming.text_problem(str(context.get(variable, "")))
        if problem:
            found.append([variable, problem, ""])
    bad = {variable for variable, _, _ in found}
    for variable, (check, suggest) in CHECKS.items():
        if variable not in bad:
            found += filter(None, [_problem_of(variable, str(context[variable]), check, suggest)])
    if "maintainers" not in bad:
        addresses = naming.split_maintainers(context["maintainers"])
        if not addresses:
            found.append(["maintainers", "give at least one email address, comma-separated for several", ""])
        found += [["maintainers", naming.email_problem(a), ""] for a in addresses if naming.email_problem(a)]
    for variable, rule in rules.items():
        if variable not in bad and "pattern" in rule and not re.fullmatch(rule["pattern"], str(context[variable])):
            found.append([variable, f"{str(context[variable])!r} {rule['message']}", ""])
    return found


def packflow_extra(context) -> list:
    """[name, value] of the answers answers.json writes under packflow.yaml's extra: (a fork's organisation fields)."""
    rules, _ = answer_rules(context)
    return [[name, str(context[name])] for name, rule in rules.items() if rule.get("extra")]


def _cookiecutter_command() -> list:
    """The cookiecutter the user ran: bare when PATH finds that same program, else as typed (.venv/bin/cookiecutter)."""
    launched = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if launched.name in ("cookiecutter", "cookiecutter.exe"):
        found = shutil.which("cookiecutter")
        if found and Path(found).resolve() == (LAUNCH_DIR / launched).resolve():
            return ["cookiecutter"]
        return [str(launched)]
    if launched.name == "__main__.py" and launched.parent.name == "cookiecutter":
        return [sys.executable, "-m", "cookiecutter"]
    return ["cookiecutter"] if shutil.which("cookiecutter") else [sys.executable, "-m", "cookiecutter"]


def _rerun_value(key: str, value, fixes: dict, derived_slug: Optional[str]) -> Optional[str]:
    """What the re-run command passes for one answer: the answer, the suggested fix, "" to re-ask, None to leave out."""
    if key == "project_slug" and derived_slug is not None and str(value) == derived_slug:
        if "project_name" in fixes or "project_slug" not in fixes:
            return None  # derived from project_name: cookiecutter derives it again from the fixed name
    if key in fixes:
        return fixes[key] or ""
    return str(value)


@pass_environment
def rerun_command(environment, context, problems) -> str:
    """The cookiecutter command that bakes again with every good answer kept, each bad one replaced by the fix its
    message suggests or left empty to fill in (never a placeholder that could itself pass, like a slug 'FIXME')."""
    fixes = {}
    for variable, _, suggestion in problems:
        fixes[variable] = suggestion if fixes.get(variable, suggestion) == suggestion else ""
    slugify = environment.filters.get("slugify")
    derived_slug = slugify(str(context.get("project_name", ""))) if slugify else None
    answers = []
    for key, value in context.items():
        shown = None if key.startswith("_") else _rerun_value(key, value, fixes, derived_slug)
        if shown is not None:
            answers.append(f"{key}={shlex.quote(shown)}")
    command = [*map(shlex.quote, _cookiecutter_command()), "--no-input"]
    if context.get("_checkout"):
        command += ["--checkout", shlex.quote(str(context["_checkout"]))]
    command += ["--output-dir", shlex.quote(str(context.get("_output_dir", ".")))]
    command.append(shlex.quote(str(context.get("_template", "."))))
    return " ".join(command + answers)


def folder_name(value) -> str:
    """The slug as a folder name, or a harmless stand-in when it is a path, so nothing lands outside the output folder.

    The pre-generation hook then refuses the slug and cookiecutter removes the stand-in folder.
    """
    text = str(value)
    if not text or text in (".", "..") or any(char in text for char in "/\\\0:") or naming.text_problem(text):
        return "refused-project-slug"
    return text


def backend_path(inference_backend) -> str:
    """Where Packflow's local loader reads the backend module: models.text:Scorer -> models/text.py."""
    module = str(inference_backend).split(":")[0]
    if naming.backend_problem(str(inference_backend)):
        return "_inference_backend.py"
    return naming.backend_paths(module, "local")[0]


# Where generated projects get packflow-export ------------------------------------------------------------------

REMOTE = re.compile(r"(https?|ssh|git|file)://|[\w.-]+@[\w.-]+:")
# Upstream's __template_repository, https://github.com/ORG/packflow-template, names no repository.
PLACEHOLDER_OWNER = re.compile(r"[/:]ORG/")
ABBREVIATIONS = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/", "bb:": "https://bitbucket.org/"}
SCHEMA_PATH = "packflow_export/packflow.schema.json"
NOTE = "packflow-template: note:"


def _git(folder: str, *args: str) -> Optional[str]:
    try:
        result = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=20,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def _clone_url(url: str) -> str:
    """A URL pip and pre-commit can clone: git@host:org/repo(.git) becomes ssh://git@host/org/repo.git."""
    match = re.fullmatch(r"([\w.-]+@[\w.-]+):(.+)", url)
    return f"ssh://{match[1]}/{match[2]}" if match else url


def _pinned(url: str, revision: Optional[str], notice: Optional[str] = None) -> dict:
    url = _clone_url(url)
    if url.startswith("file:"):  # a repository on this machine: git and pip read file://localhost/ (pip < 23.3
        path = Path(unquote(urlparse(url).path))  # refuses git+file:///), editors its working tree's schema
        url, schema_url = "file://localhost" + quote(path.as_posix()), (path / SCHEMA_PATH).as_uri()
    else:
        web = re.sub(r"\.git$", "", re.sub(r"^ssh://git@([^/]+)/", r"https://\1/", url))
        schema_url = f"{web}{'/-/raw/' if 'gitlab' in web else '/raw/'}{revision or 'main'}/{SCHEMA_PATH}"
    pinned = f"@{revision}" if revision else ""
    return {"repository": url, "revision": revision or "main", "requirement": f"packflow-export @ git+{url}{pinned}",
            "lock_requirement": f"packflow-export[lock] @ git+{url}{pinned}",  # with uv, for `lock`
            "schema_url": schema_url, "notice": notice}


def _from_folder(folder: Path, commit: str, fallback: str) -> dict:
    """A template baked from a folder: its origin when that is a URL, else __template_repository, else the folder."""
    placeholder = bool(PLACEHOLDER_OWNER.search(fallback))
    tracked = _git(str(folder), "ls-files", "--full-name", "cookiecutter.json")
    top = _git(str(folder), "rev-parse", "--show-toplevel") if tracked else None
    if not top:
        return _pinned(fallback, None, f"{NOTE} {folder} is not a git clone, so this project's CI, pre-commit and "
                                       f"schema point at {fallback} (branch main, unpinned"
                                       + (", a placeholder" if placeholder else "") + "); bake from a git clone or "
                                       + ("your fork's URL, or set __template_repository in cookiecutter.json"
                                          if placeholder else "its URL"))
    revision = commit or _git(top, "rev-parse", "HEAD")
    origin = _git(top, "remote", "get-url", "origin")
    if origin and REMOTE.match(origin):
        pushed = _git(top, "branch", "--remotes", "--contains", revision or "HEAD")
        return _pinned(origin, revision, None if pushed else (
            f"{NOTE} this project pins packflow-export to commit {str(revision)[:12]} of {origin}, which no branch "
            "there holds yet: push it before the project's CI or pre-commit runs"))
    if not placeholder:
        return _pinned(fallback, revision)
    dirty = _git(top, "status", "--porcelain", "--untracked-files=no")
    caveat = " (without your uncommitted changes)" if dirty else ""
    return _on_this_machine(_pinned(Path(top).as_uri(), revision), caveat)


def _on_this_machine(source: dict, caveat: str = "") -> dict:
    """A pin only this machine can install from says so, and what to set for CI anywhere else."""
    return {**source, "notice": (
        f"{NOTE} this project pins packflow-export (CI, pre-commit, schema) to {source['repository']}@"
        f"{source['revision'][:12]}{caveat}, which only this machine can reach; for CI elsewhere, set "
        "__template_repository in cookiecutter.json to your fork's URL, or bake from that URL")}


def _source(template: str, repo_dir: str, commit: str, fallback: str) -> dict:
    if REMOTE.match(template):  # a git URL: cookiecutter cloned it into repo_dir (cruft records the commit)
        source = _pinned(template, commit or (_git(repo_dir, "rev-parse", "HEAD") if repo_dir else None))
        return _on_this_machine(source) if template.startswith("file:") else source
    folder = Path(template) if commit and template else Path(repo_dir)  # cruft passes the folder it was given
    return _from_folder(folder.resolve(), commit, fallback)


_SOURCES: list = []  # (context, source) of recent bakes: one answer per bake, however often the files ask


def template_source(context) -> dict:
    """Where generated projects get packflow-export, its schema and its pre-commit hook: the repository this
    project was baked from, at the exact revision. A folder whose origin is not a URL pins __template_repository,
    or while that is upstream's placeholder the folder itself as a file:// URL; `notice` then says what to set.
    cruft update moves the pin with the template."""
    for seen, source in _SOURCES:
        if seen is context:
            return source
    template = re.sub(r"^(git|hg)\+", "", str(context.get("_template") or ""))
    for short, prefix in ABBREVIATIONS.items():
        if template.startswith(short):
            template = prefix + template[len(short):]
    repo_dir = str(context["_repo_dir"]) if context.get("_repo_dir") else ""
    if repo_dir and not Path(repo_dir).is_absolute():
        repo_dir = str(TEMPLATE_ROOT)
    source = _source(template, repo_dir or str(TEMPLATE_ROOT), str(context.get("_commit") or ""),
                     str(context["__template_repository"]))
    _SOURCES[:] = [*_SOURCES[-7:], (context, source)]
    return source


class PackflowTemplateExtension(Extension):
    """Adds the running interpreter's version and the filters the template uses."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["running_python_version"] = "{}.{}.{}".format(*sys.version_info[:3])
        filters: dict[str, Any] = {
            "yaml_string": naming.yaml_quote, "maintainer_list": naming.split_maintainers, "folder_name": folder_name,
            "backend_path": backend_path, "answer_problems": answer_problems, "rerun_command": rerun_command,
            "archive_stem": naming.archive_stem, "template_source": template_source, "packflow_extra": packflow_extra,
        }
        environment.filters.update(filters)
