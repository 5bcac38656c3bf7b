"""Jinja helpers of the template: answer validation and the filters the template files use.

The naming rules themselves are packflow_export/naming.py (shared with the checker and the JSON Schema),
loaded by path: cookiecutter runs before packflow-export is installed, and an installed copy of another
version must not answer for this template. Hooks receive everything computed here as data (tojson).
"""

import importlib.util
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from jinja2.ext import Extension

TEMPLATE_ROOT = Path(__file__).resolve().parent


def _load_naming():
    spec = importlib.util.spec_from_file_location("_packflow_template_naming", TEMPLATE_ROOT / "packflow_export" / "naming.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naming = _load_naming()
ONE_LINE = ("project_name", "project_slug", "description", "version", "organization", "maintainers", "python_version",
            "packflow_version", "inference_backend")


def answer_problems(context) -> list:
    """[variable, message] for every answer that would bake a broken project (empty when all are usable)."""
    found = []
    for variable in ONE_LINE:
        problem = naming.text_problem(str(context.get(variable, "")))
        if problem:
            found.append([variable, problem])
    bad = {variable for variable, _ in found}
    checks = [
        ("project_slug", naming.name_problem),
        ("version", naming.version_problem),
        ("python_version", naming.python_version_problem),
        ("packflow_version", naming.packflow_version_problem),
        ("inference_backend", lambda v: naming.backend_problem(v) or naming.backend_shadow_problem(v.split(":")[0])),
    ]
    for variable, check in checks:
        if variable not in bad:
            problem = check(str(context[variable]))
            if problem:
                found.append([variable, problem])
    if "maintainers" not in bad:
        addresses = naming.split_maintainers(context["maintainers"])
        if not addresses:
            found.append(["maintainers", "give at least one email address, comma-separated for several"])
        found += [["maintainers", naming.email_problem(a)] for a in addresses if naming.email_problem(a)]
    return found


def rerun_command(context, problems) -> str:
    """The cookiecutter command that bakes again with every good answer kept and each bad one left as FIXME."""
    bad = {variable for variable, _ in problems}
    answers = []
    for key, value in context.items():
        if key.startswith("_"):
            continue
        shown = "FIXME" if key in bad else str(value)
        answers.append(f"{key}={shlex.quote(shown)}")
    command = ["cookiecutter", "--no-input"]
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


REMOTE = re.compile(r"(https?|ssh|git|file)://|[\w.-]+@[\w.-]+:")


def _git(folder: str, *args: str):
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


@lru_cache(maxsize=None)
def _source(template: str, repo_dir: str, commit: str, fallback: str) -> dict:
    url, revision = None, commit or None
    if REMOTE.match(template):
        url = template  # a git URL (cruft records the URL it cloned; cookiecutter's gh:/gl: abbreviations expand)
    if repo_dir and Path(repo_dir, ".git").exists():
        origin = _git(repo_dir, "remote", "get-url", "origin")
        url = url or (origin if origin and REMOTE.match(origin) else None)  # a folder as origin is no remote
        revision = revision or _git(repo_dir, "rev-parse", "HEAD")
    url = _clone_url(url or fallback)
    web = re.sub(r"\.git$", "", re.sub(r"^ssh://git@([^/]+)/", r"https://\1/", url))
    raw = "/-/raw/" if "gitlab" in web else "/raw/"
    pinned = f"@{revision}" if revision else ""
    return {"repository": url, "revision": revision or "main",
            "requirement": f"packflow-export @ git+{url}{pinned}",
            "schema_url": f"{web}{raw}{revision or 'main'}/packflow_export/packflow.schema.json"}


def template_source(context) -> dict:
    """Where generated projects get packflow-export, its schema and its pre-commit hook: the repository this
    project was baked from, at the exact revision (a local path whose origin is not a URL, or that has none,
    falls back to __template_repository). cruft update moves the pin with the template."""
    expanded = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/", "bb:": "https://bitbucket.org/"}
    template = re.sub(r"^(git|hg)\+", "", str(context.get("_template") or ""))
    for short, prefix in expanded.items():
        if template.startswith(short):
            template = prefix + template[len(short):]
    repo_dir = str(context.get("_repo_dir") or (TEMPLATE_ROOT if not context.get("_commit") else ""))
    return _source(template, repo_dir, str(context.get("_commit") or ""), str(context["__template_repository"]))


class PackflowTemplateExtension(Extension):
    """Adds the running interpreter's version and the filters the template uses."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["running_python_version"] = "{}.{}.{}".format(*sys.version_info[:3])
        environment.filters["yaml_string"] = naming.yaml_quote
        environment.filters["maintainer_list"] = naming.split_maintainers
        environment.filters["folder_name"] = folder_name
        environment.filters["backend_path"] = backend_path
        environment.filters["answer_problems"] = answer_problems
        environment.filters["rerun_command"] = rerun_command
        environment.filters["archive_stem"] = naming.archive_stem
        environment.filters["template_source"] = template_source
