"""The readiness rules: one stable code per rule, with its default severity and fix (the README table)."""

from __future__ import annotations

from typing import NamedTuple, Optional

SEVERITIES = ("error", "warning", "info")


class Rule(NamedTuple):
    severity: str
    summary: str
    fix: str


RULES = {
    # Files
    "PF101": Rule("error", "requirements.txt is missing", "Create requirements.txt listing packflow==<version> and every dependency."),
    "PF102": Rule("error", "the backend module named by inference_backend is missing", "Create the module file (a/b.py for a.b:Class) or fix inference_backend."),
    "PF103": Rule("warning", "a recommended document (MODEL_CARD.md, README.md, LICENSE.txt) is missing or empty", "Write the document; the template's versions are a starting point."),
    "PF104": Rule("error", "a project file cannot be read as UTF-8 text", "Make it a readable UTF-8 text file of sensible size."),
    # packflow.yaml
    "PF201": Rule("error", "packflow.yaml is not valid YAML", "Fix the syntax at the reported line and column (indent with spaces, not tabs)."),
    "PF202": Rule("error", "packflow.yaml is not a mapping of keys to values", "Write packflow.yaml as `key: value` lines (see the template)."),
    "PF203": Rule("error", "name is missing or not a valid project name", "Use letters, digits, '-' and '_', starting with a letter."),
    "PF204": Rule("error", "version is missing, not PEP 440, or unsafe in a file name", "Use a PEP 440 version in normal form, quoted: version: \"1.0.0\"."),
    "PF205": Rule("warning", "description is empty", "Describe in one sentence what the analytic does."),
    "PF206": Rule("warning", "maintainers is empty or holds something that is not an email address", "List the maintainers' email addresses."),
    "PF207": Rule("error", "maintainers is not a list of strings", "Write maintainers as a YAML list: `maintainers: [\"a@example.org\"]`."),
    "PF208": Rule("error", "inference_backend is not `dotted.module:Class`", "Name the backend as module:Class, e.g. inference:Backend."),
    "PF209": Rule("error", "loader is not `local` or `module`", "Set loader: local (a .py file in the project) or loader: module (an importable module)."),
    "PF210": Rule("error", "python_version is not X.Y or X.Y.Z", "Quote it: python_version: \"3.11\"."),
    "PF211": Rule("warning", "python_version's minor version differs from the running interpreter", "Test with the Python the project declares, or update python_version."),
    "PF212": Rule("error", "packflow.yaml has a top-level key Packflow does not accept", "Fix the spelling, or move custom fields under `extra:`."),
    "PF213": Rule("error", "a value has the wrong YAML type (a number, boolean or null where text is needed)", "Quote the value so YAML reads it as text."),
    "PF214": Rule("error", "a field the policy requires is missing or empty", "Add the field under `extra:` in packflow.yaml."),
    "PF215": Rule("error", "the license is not one the policy allows", "Use one of the policy's allowed_licenses in extra.license."),
    "PF216": Rule("error", "env, backend_config or extra is not a mapping", "Write the section as `key: value` lines under it."),
    # Documentation
    "PF301": Rule("warning", "a template placeholder is left in the documentation", "Replace the placeholder with real content."),
    "PF302": Rule("warning", "MODEL_CARD.md's name or version disagrees with packflow.yaml", "Update the model card to the name and version being released."),
    "PF303": Rule("warning", "LICENSE.txt does not match the license declared in packflow.yaml", "Make LICENSE.txt the text of extra.license, or fix extra.license."),
    # requirements.txt
    "PF401": Rule("error", "a requirements.txt line is not a PEP 508 requirement or a portable pip option", "Fix the line; see the pip requirements file format."),
    "PF402": Rule("error", "packflow is not listed in requirements.txt", "Add packflow==<version>."),
    "PF403": Rule("warning", "packflow is not pinned to one version", "Pin it: packflow==0.4.1."),
    "PF404": Rule("warning", "a requirement is not pinned to one version", "Pin it with == so the package installs the same everywhere."),
    "PF405": Rule("error", "a requirement points at a local path, an editable install or a file: URL", "Publish the dependency to an index or a VCS URL; local paths do not travel with the package."),
    "PF406": Rule("warning", "a requirement is listed twice", "Keep one line per requirement."),
    "PF407": Rule("error", "an included requirements file (-r/-c) is missing or outside the project", "Include only files inside the project, or inline the requirements."),
    # Backend
    "PF501": Rule("error", "the backend module has a syntax error", "Fix the syntax at the reported line."),
    "PF502": Rule("error", "the backend class is not defined in the module", "Define the class named in inference_backend, or fix the name."),
    "PF503": Rule("warning", "the backend class does not visibly subclass InferenceBackend", "Subclass packflow.InferenceBackend."),
    "PF504": Rule("warning", "execute() is still the template's example", "Replace the example with your model's inference."),
    "PF505": Rule("info", "the backend module is not in the project (loader: module)", "Make sure requirements.txt installs the module, or ship it in the project."),
    # Release hygiene
    "PF601": Rule("warning", "the git work tree has uncommitted changes", "Commit or stash them so the package matches a commit."),
    "PF602": Rule("info", "HEAD is not tagged with the version", "Tag the release commit: git tag v<version>."),
    "PF603": Rule("warning", "a tag on HEAD names another version", "Bump version in packflow.yaml or move the tag."),
    # --run-tests
    "PF701": Rule("error", "the project's tests fail", "Run python -m pytest in the project and fix the failures."),
    "PF702": Rule("error", "validate.py fails", "Run python validate.py in the project and fix the backend."),
    "PF703": Rule("warning", "the project has no tests", "Add pytest tests (the template's test_inference.py is a start)."),
    # Export
    "PF801": Rule("error", "a file that looks like a secret would be packed", "Remove it, add it to .packflowignore, or pass --allow-secret PATH if it is not secret."),
    "PF802": Rule("warning", "a symlink would be packed as a copy or is left out", "Replace links with real files, or ignore them."),
}


class Finding:
    """One thing a check found: a rule's code, its severity (after the policy) and where."""

    __slots__ = ("code", "severity", "message", "path", "line", "hint")

    def __init__(self, code: str, severity: str, message: str, path: Optional[str] = None,
                 line: Optional[int] = None, hint: Optional[str] = None):
        self.code, self.severity, self.message = code, severity, message
        self.path, self.line, self.hint = path, line, hint

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"Finding({self.as_dict()!r})"


def finding(code: str, message: str, path: Optional[str] = None, line: Optional[int] = None, hint: Optional[str] = None) -> Finding:
    """A finding of a known rule, with the rule's default severity and fix as hint unless one is given."""
    rule = RULES[code]
    return Finding(code, rule.severity, message, path, line, hint if hint is not None else rule.fix)
