"""Reading packflow.yaml (with line numbers) and the readiness policy, safely, whatever the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .findings import RULES, SEVERITIES, Finding, finding

CONFIG_NAME = "packflow.yaml"
MAX_CONFIG_BYTES = 1024 * 1024
MAX_ALIAS_EXPANSION = 100_000
DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")


class UsageError(Exception):
    """Bad input from the command line or the policy file: exit 2 with this message."""


def read_text(path: Path, rel: str, limit: int) -> tuple[Optional[str], Optional[Finding]]:
    """A file's UTF-8 text, or the finding that says why it cannot be read."""
    import stat

    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return None, finding("PF104", f"{rel} is a directory, not a file", rel)
        if not stat.S_ISREG(info.st_mode):
            return None, finding("PF104", f"{rel} is not a regular file (a pipe, socket or device)", rel)
        size = info.st_size
        if size > limit:
            return None, finding("PF104", f"{rel} is {size:,} bytes, over the {limit:,}-byte limit for this file", rel)
        data = path.read_bytes()
    except OSError as exc:
        return None, finding("PF104", f"{rel} cannot be read: {exc.strerror or exc}", rel)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, finding("PF104", f"{rel} is not UTF-8 text (byte {exc.start} is invalid)", rel, line, "Save the file as UTF-8.")


class ProjectConfig:
    """packflow.yaml as data, with the line of each top-level key (and its raw text) for messages."""

    def __init__(self):
        self.data: Any = None
        self.lines: dict = {}
        self.nested_lines: dict = {}
        self.raw: dict = {}
        self.findings: list = []

    def line_of(self, key: str, subkey: Optional[str] = None) -> Optional[int]:
        if subkey is not None:
            return self.nested_lines.get((key, subkey), self.lines.get(key))
        return self.lines.get(key)


def _expanded_size(node, seen: dict) -> int:
    """How many nodes the document has once aliases are expanded (memoised: linear time)."""
    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = 1  # a recursive alias counts once instead of looping
    import yaml

    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(item, seen) for item in node.value)
    else:
        total = 1
    seen[key] = min(total, MAX_ALIAS_EXPANSION + 1)
    return seen[key]


def load_project_config(project: Path) -> ProjectConfig:
    """Parse packflow.yaml; problems become findings instead of exceptions."""
    import yaml

    config = ProjectConfig()
    text, problem = read_text(project / CONFIG_NAME, CONFIG_NAME, MAX_CONFIG_BYTES)
    if problem:
        config.findings.append(problem)
        return config
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        config.findings.append(finding(
            "PF201", f"{CONFIG_NAME} holds the character #x{exc.character:04x}, which YAML does not allow",
            CONFIG_NAME, line, "Remove the control character, or write it as an escape inside a double-quoted string."))
        return config
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_ALIAS_EXPANSION:
            config.findings.append(finding(
                "PF201", f"{CONFIG_NAME} expands to more than {MAX_ALIAS_EXPANSION:,} values through YAML aliases",
                CONFIG_NAME, None, "Write the values out instead of nesting anchors and aliases."))
            return config
        config.data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f" (column {mark.column + 1})" if mark else ""
        config.findings.append(finding("PF201", f"{CONFIG_NAME} is not valid YAML: {exc.problem or exc.context}{where}", CONFIG_NAME, line))
        return config
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        config.findings.append(finding("PF201", f"{CONFIG_NAME} is not valid YAML: {exc}", CONFIG_NAME))
        return config
    finally:
        loader.dispose()
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                config.lines.setdefault(key_node.value, key_node.start_mark.line + 1)
                if isinstance(value_node, yaml.ScalarNode):
                    config.raw.setdefault(key_node.value, value_node.value)
                if isinstance(value_node, yaml.MappingNode):
                    for sub_key, _ in value_node.value:
                        if isinstance(sub_key, yaml.ScalarNode):
                            config.nested_lines.setdefault((key_node.value, sub_key.value), sub_key.start_mark.line + 1)
    return config


class Policy:
    """What an organisation requires of a release; edited as data in policy.yaml."""

    def __init__(self, source: str = str(DEFAULT_POLICY)):
        self.source = source
        self.strict = False
        self.severity: dict = {}
        self.required_fields: list = []
        self.allowed_licenses: list = []
        self.license_markers: dict = {}


POLICY_KEYS = {"strict", "severity", "required_fields", "allowed_licenses", "license_markers"}


def load_policy(path: Optional[Path] = None) -> Policy:
    """Load and validate a policy file; any mistake in it is a UsageError (exit 2), never ignored."""
    import yaml

    path = Path(path) if path else DEFAULT_POLICY
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise UsageError(f"policy file {path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"policy file {path}: is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"policy file {path}: is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"policy file {path}: must be a mapping of policy keys, e.g. 'strict: false'")
    unknown = sorted(set(map(str, data)) - POLICY_KEYS)
    if unknown:
        raise UsageError(f"policy file {path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(POLICY_KEYS))}")
    policy = Policy(source=str(path))
    strict = data.get("strict", False)
    if not isinstance(strict, bool):
        raise UsageError(f"policy file {path}: strict: must be true or false, not {strict!r}")
    policy.strict = strict
    severity = data.get("severity") or {}
    if not isinstance(severity, dict):
        raise UsageError(f"policy file {path}: severity: must map rule codes to error|warning|info|off")
    for code, level in severity.items():
        if code not in RULES:
            raise UsageError(f"policy file {path}: severity: unknown rule code {code!r} (see the README's table of codes)")
        if level not in SEVERITIES + ("off",):
            raise UsageError(f"policy file {path}: severity: {code}: {level!r} must be one of error, warning, info, off")
    policy.severity = dict(severity)
    for key in ("required_fields", "allowed_licenses"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise UsageError(f"policy file {path}: {key}: must be a list of non-empty strings")
        setattr(policy, key, list(value))
    markers = data.get("license_markers") or {}
    if not isinstance(markers, dict) or not all(
        isinstance(phrases, list) and phrases and all(isinstance(p, str) and p for p in phrases)
        for phrases in markers.values()
    ):
        raise UsageError(f"policy file {path}: license_markers: must map SPDX ids to lists of phrases")
    policy.license_markers = {str(k): list(v) for k, v in markers.items()}
    return policy
