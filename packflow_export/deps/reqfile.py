"""Requirement records from a requirements file's text, hashes included (what a lock holds).

Phase 2 feeds the audit from the project model's parser; this small reader is what the lock functions use
to look inside the lock they wrote, and what a caller with nothing but text can use. It reads pip's format:
comments, backslash continuations, `--hash` options on a requirement, other options kept as they are.
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple

from packaging.requirements import InvalidRequirement, Requirement

from .osv import parse_version
from .records import RequirementRecord

HASH_OPTION = re.compile(r"(?:^|\s)--hash(?:=|\s+)(\S+)")
SIMPLE_PIN = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*==\s*([0-9][0-9a-z.!+]*)", re.IGNORECASE)


class RequirementsText(NamedTuple):
    """What a requirements file says: its requirements, its options and the lines that could not be read."""

    requirements: tuple[RequirementRecord, ...]
    options: tuple[tuple[int, str], ...]  # (line, option text): -r, -c, --index-url ...
    problems: tuple[tuple[int, str], ...]  # (line, why)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with comments stripped and backslash continuations joined, with their first line numbers."""
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", line)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            yield start, joined
    if pending.strip():
        yield start, pending.strip()


def parse_requirement_line(line: str, path: str = "requirements.txt", number: int = 0) -> RequirementRecord:
    """One requirement line (with any --hash options) as a record; InvalidRequirement when it is not PEP 508."""
    hashes = tuple(HASH_OPTION.findall(line)) if "--hash" in line else ()
    text = HASH_OPTION.sub(" ", line).strip() if hashes else line.strip()
    simple = SIMPLE_PIN.fullmatch(text)
    if simple and parse_version(simple[2]):  # `name==version`, what locks are made of: no full PEP 508 parse
        return RequirementRecord(name=simple[1], specifier=f"=={simple[2]}", hashes=hashes, path=path, line=number)
    parsed = Requirement(text)
    return RequirementRecord(name=parsed.name, specifier=str(parsed.specifier), extras=tuple(sorted(parsed.extras)),
                             marker=str(parsed.marker or ""), hashes=hashes, url=parsed.url, path=path, line=number)


def read_requirements_text(text: str, path: str = "requirements.txt") -> RequirementsText:
    """Every requirement of a requirements file's text, its options, and what could not be parsed."""
    requirements, options, problems = [], [], []
    for number, line in logical_lines(text):
        if line.startswith("-"):
            options.append((number, line))
            continue
        try:
            requirements.append(parse_requirement_line(line, path, number))
        except InvalidRequirement as exc:
            problems.append((number, f"{line!r} is not a PEP 508 requirement: {str(exc).splitlines()[0]}"))
    return RequirementsText(tuple(requirements), tuple(options), tuple(problems))
