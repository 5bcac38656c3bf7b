"""What reading a project found wrong, as facts: the model knows no rules, so each family maps a kind of problem
to the rule that reports it (a file that cannot be read is PF104 whichever family read it).
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Optional


class ProblemKind(Enum):
    UNREADABLE = "a file cannot be read (as text)"
    INVALID_YAML = "packflow.yaml is not valid YAML"
    DUPLICATE_KEY = "a key is given twice in packflow.yaml"
    SYNTAX_ERROR = "a Python module does not parse"
    BAD_REQUIREMENT = "a requirements line is not a requirement or a portable option"
    LOCAL_REQUIREMENT = "a requirement points at a local path"
    DUPLICATE_REQUIREMENT = "a requirement is listed twice"
    BAD_INCLUDE = "an included requirements file is missing or outside the project"
    WEAK_SOURCE = "a requirements option weakens where packages come from"


class Problem(NamedTuple):
    """One thing reading found wrong, and where; `hint` None means the rule's own fix."""

    kind: ProblemKind
    message: str
    path: Optional[str] = None
    line: Optional[int] = None
    hint: Optional[str] = None


def unreadable(rel: str, reason: str, line: Optional[int] = None, hint: Optional[str] = None) -> Problem:
    """The problem of a file that cannot be read, worded as every reader words it: `<path> <why>`."""
    return Problem(ProblemKind.UNREADABLE, f"{rel} {reason}", rel, line, hint)
