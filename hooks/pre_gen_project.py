"""Refuse bad answers before cookiecutter writes anything (it removes the folder when this exits non-zero)."""

import json
import keyword
import re
import sys
import unicodedata

try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # cookiecutter does not depend on packaging; pip always vendors it
    try:
        from pip._vendor.packaging.version import InvalidVersion, Version
    except ImportError:
        print("ERROR: version: checking it needs the 'packaging' library: pip install packaging", file=sys.stderr)
        sys.exit(1)

# Answers arrive as JSON data, never as code: a value with quotes or backslashes cannot break this file.
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
MAINTAINERS = json.loads(r'''{{ cookiecutter.maintainers | maintainer_list | tojson }}''')

SLUG_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
EMAIL_PATTERN = re.compile(r"[^@\s,<>\"]+@[^@\s,<>\"]+\.[^@\s,<>\".]+")
PYTHON_VERSION_PATTERN = re.compile(r"[0-9]+\.[0-9]+(\.[0-9]+)?")
ONE_LINE_FIELDS = ("project_name", "description", "organization")
LOADERS = ("local", "module")
PROJECT_FILES = {"validate", "test_inference", "setup", "conftest"}


def one_line_problem(value):
    """Why a one-line answer is unusable, or None."""
    if not value.strip():
        return "must not be empty"
    for char in value:
        if char != "\t" and unicodedata.category(char) in ("Cc", "Cs"):
            return f"contains the control character {char!r}; use a single line of printable text"
    return None


def backend_problem(value):
    """Why an inference_backend answer is unusable, or None."""
    module, sep, cls = value.partition(":")
    if not sep or ":" in cls:
        return f"{value!r} must be 'module:Class' with exactly one ':', e.g. 'inference:Backend'"
    parts = module.split(".")
    for name in parts + [cls]:
        if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
            return f"{name!r} in {value!r} is not a Python identifier; use letters, digits and '_', e.g. 'models.text:Scorer'"
    if parts[0] in sys.stdlib_module_names or parts[0] in ("packflow", "numpy", "pydantic", "yaml"):
        return f"module {parts[0]!r} would shadow an installed module; choose another name, e.g. 'inference'"
    if module in PROJECT_FILES:
        return f"module {module!r} collides with a file the project already has; choose another name, e.g. 'inference'"
    return None


def problems(answers, maintainers):
    """Every (variable, message) pair that makes the answers unusable."""
    found = []
    for field in ONE_LINE_FIELDS:
        problem = one_line_problem(answers[field])
        if problem:
            found.append((field, problem))
    slug = answers["project_slug"]
    if not SLUG_PATTERN.fullmatch(slug):
        found.append(("project_slug", f"{slug!r} must start with a letter and hold only letters, digits, '-' and '_', e.g. 'my-analytic'"))
    try:
        version = Version(answers["version"])
    except InvalidVersion:
        found.append(("version", f"{answers['version']!r} is not a PEP 440 version; use e.g. '0.1.0' or '1.0.0rc1'"))
    else:
        if str(version) != answers["version"]:
            found.append(("version", f"{answers['version']!r} is not in normal form; use {str(version)!r}"))
    if not maintainers:
        found.append(("maintainers", "give at least one email address, comma-separated for several"))
    for address in maintainers:
        if not EMAIL_PATTERN.fullmatch(address):
            found.append(("maintainers", f"{address!r} does not look like an email address, e.g. 'maintainer@example.org'"))
    if not PYTHON_VERSION_PATTERN.fullmatch(answers["python_version"]):
        found.append(("python_version", f"{answers['python_version']!r} must be X.Y or X.Y.Z, e.g. '3.11' or '3.11.7'"))
    try:
        Version(answers["packflow_version"])
    except InvalidVersion:
        found.append(("packflow_version", f"{answers['packflow_version']!r} is not a version; use e.g. '0.4.1'"))
    problem = backend_problem(answers["inference_backend"])
    if problem:
        found.append(("inference_backend", problem))
    if answers["loader"] not in LOADERS:
        found.append(("loader", f"{answers['loader']!r} must be one of: {', '.join(LOADERS)}"))
    return found


def main():
    found = problems(ANSWERS, MAINTAINERS)
    for variable, message in found:
        print(f"ERROR: {variable}: {message}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
