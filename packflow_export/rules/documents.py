"""Documentation: no template placeholders left, and the model card and license agree with packflow.yaml (PF3xx)."""

from __future__ import annotations

import re
from typing import Iterator, Optional

from ..findings import Finding, Policy, define
from ..model.config import ProjectConfig
from ..model.context import Context
from .check import Check
from .files import DOCUMENT_MISSING, DOCUMENTS, UNREADABLE, read_text

PLACEHOLDER = define(
    "PF301", "warning", "a template placeholder is left in the documentation",
    why="A release whose model card still says [TODO: ...] tells its users nothing about the model's limits.",
    fix="Replace the placeholder with real content.", group="placeholders left")
CARD_DISAGREES = define(
    "PF302", "warning", "MODEL_CARD.md's name or version disagrees with packflow.yaml",
    why="The model card would describe another release than the one shipped.",
    fix="Update the model card to the name and version being released (python -m packflow_export bump does both).")
LICENSE_MISMATCH = define(
    "PF303", "warning", "LICENSE.txt does not match the license declared in packflow.yaml",
    why="Users and license scanners read LICENSE.txt; the declared license must be the one it holds.",
    fix="Make LICENSE.txt the text of extra.license, or fix extra.license (and policy.yaml's license_markers).")

# Placeholders: the template's `[TODO: ...]`, and upstream `packflow create`'s markers.
TODO_PLACEHOLDER = re.compile(r"\[TODO:[^\]\n]*\]")
UPSTREAM_PLACEHOLDERS = {
    "MODEL_CARD.md": re.compile(r"\{[A-Za-z][^{}\n]{0,200}\}|^\s*(?:-\s*)?(?:\*\*[^*]+:\*\*\s*)?\.\.\.\s*$"),
    "README.md": re.compile(r"^# Project Name\s*$|Brief description of the analytic"),
    "LICENSE.txt": re.compile(r"\[yyyy\]|\[name of copyright owner\]|<year>|<copyright holders?>"),
}
INLINE_CODE = re.compile(r"`[^`\n]*`")


def markdown_lines(text: str, name: str) -> Iterator[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code removed (placeholders there are examples)."""
    fenced = False
    markdown = name.endswith(".md")
    for number, line in enumerate(text.splitlines(), 1):
        if markdown and line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            yield number, INLINE_CODE.sub("", line) if markdown else line


def find_placeholders(text: str, name: str) -> Iterator[Finding]:
    upstream = UPSTREAM_PLACEHOLDERS.get(name)
    for number, line in markdown_lines(text, name):
        matches = TODO_PLACEHOLDER.findall(line)
        if not matches and upstream is not None:
            match = upstream.search(line)
            matches = [match.group(0).strip()] if match else []
        for placeholder in matches:
            shown = placeholder if len(placeholder) <= 80 else placeholder[:77] + "..."
            yield PLACEHOLDER(f"placeholder left: {shown}", name, number)


def card_field(text: str, label: str) -> tuple[Optional[str], Optional[int]]:
    match = re.search(rf"^\*\*{label}:\*\*[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    if not match:
        return None, None
    return match.group(1), text.count("\n", 0, match.start()) + 1


def check_model_card(text: str, config: ProjectConfig) -> Iterator[Finding]:
    data = config.fields
    card_name, line = card_field(text, "Name")
    names = {str(data.get("name")), str(config.extra.get("project_name"))}
    if card_name and not TODO_PLACEHOLDER.fullmatch(card_name) and card_name != "..." and card_name not in names:
        yield CARD_DISAGREES(f"MODEL_CARD.md names {card_name!r}, packflow.yaml names {data.get('name')!r}",
                             "MODEL_CARD.md", line)
    card_version, line = card_field(text, "Version")
    version = data.get("version")
    if card_version and card_version != "..." and isinstance(version, str) and card_version.lstrip("v") != version:
        yield CARD_DISAGREES(f"MODEL_CARD.md says version {card_version!r}, packflow.yaml says {version!r}",
                             "MODEL_CARD.md", line)


def check_license(text: str, config: ProjectConfig, policy: Policy) -> Iterator[Finding]:
    license_id = config.extra.get("license")
    markers = policy.license_markers.get(license_id) if isinstance(license_id, str) else None
    if not markers:
        return
    folded = " ".join(text.split()).lower()
    missing = [phrase for phrase in markers if " ".join(phrase.split()).lower() not in folded]
    if missing:
        yield LICENSE_MISMATCH(f"LICENSE.txt does not read like {license_id} (missing {missing[0]!r})",
                               "LICENSE.txt", 1)


def check_documents(ctx: Context) -> Iterator[Finding]:
    """The recommended documents have content, no placeholders, and agree with packflow.yaml."""
    for name in DOCUMENTS:
        if ctx.view.kind(name) is None:
            continue  # the files family reports it missing
        text = read_text(ctx.view, name)
        if isinstance(text, Finding):
            yield text
            continue
        if not text.strip():
            yield DOCUMENT_MISSING(f"{name} is empty", name)
            continue
        yield from find_placeholders(text, name)
        if name == "MODEL_CARD.md":
            yield from check_model_card(text, ctx.config)
        elif name == "LICENSE.txt":
            yield from check_license(text, ctx.config, ctx.policy)


RULES = (PLACEHOLDER, CARD_DISAGREES, LICENSE_MISMATCH)
CHECKS = (
    Check("documents", check_documents, raises=(DOCUMENT_MISSING, UNREADABLE, PLACEHOLDER, CARD_DISAGREES,
                                                LICENSE_MISMATCH)),
)
