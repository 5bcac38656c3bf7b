"""Files: the project holds what Packflow needs, and each file can be read as text (PF1xx).

Every rule family reads project files through read_text() / read_source() here, so an unreadable file is
reported the same way (PF104) whoever tried to read it.
"""

from __future__ import annotations

import io
from typing import Iterable, Optional

from ..findings import Finding, define
from ..project import Unreadable

REQUIREMENTS = "requirements.txt"
DOCUMENTS = ("MODEL_CARD.md", "README.md", "LICENSE.txt")
MAX_TEXT_BYTES = 10 * 1024 * 1024

REQUIREMENTS_MISSING = define(
    "PF101", "error", "requirements.txt is missing",
    why="A Packflow runtime installs the backend's dependencies from requirements.txt; without it the package "
        "cannot be installed anywhere else.",
    fix="Create requirements.txt listing packflow==<version> and every dependency.")
BACKEND_MISSING = define(
    "PF102", "error", "the backend module named by inference_backend is missing",
    why="Packflow loads the backend from this module; the package would fail on load.",
    fix="Create the module file (a/b.py for a.b:Class) or fix inference_backend.")
DOCUMENT_MISSING = define(
    "PF103", "warning", "a recommended document (MODEL_CARD.md, README.md, LICENSE.txt) is missing or empty",
    why="Packflow's distribution guide asks for them: downstream users need the model's limits, usage and license.",
    fix="Write the document; the template's versions are a starting point.")
UNREADABLE = define(
    "PF104", "error", "a project file cannot be read as UTF-8 text",
    why="The checks cannot vouch for a file they cannot read, and neither can the runtime that loads it.",
    fix="Make it a readable UTF-8 text file of sensible size.")


def unreadable(rel: str, problem: str, line: Optional[int] = None, hint: Optional[str] = None) -> Finding:
    return UNREADABLE(f"{rel} {problem}", rel, line, hint)


def read_bytes(view, rel: str, limit: int = MAX_TEXT_BYTES) -> tuple:
    """(bytes, None), or (None, the PF104 finding saying why the file cannot be read)."""
    try:
        return view.read(rel, limit), None
    except Unreadable as exc:
        return None, unreadable(rel, str(exc))


def read_text(view, rel: str, limit: int = MAX_TEXT_BYTES) -> tuple:
    """(UTF-8 text, None), or (None, the PF104 finding); a BOM is allowed."""
    data, problem = read_bytes(view, rel, limit)
    if problem:
        return None, problem
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, unreadable(rel, f"is not UTF-8 text (byte {exc.start} is invalid)", line, "Save the file as UTF-8.")


def decode_source(data: bytes, rel: str) -> tuple:
    """Python source as Python reads it: a BOM or a coding cookie decides the encoding, else UTF-8."""
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), None
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        return None, unreadable(rel, f"cannot be decoded as Python source: {exc}", None,
                                "Save it as UTF-8, or declare its encoding in a coding cookie (PEP 263).")


def read_source(view, rel: str, limit: int = 5 * 1024 * 1024) -> tuple:
    data, problem = read_bytes(view, rel, limit)
    return (None, problem) if problem else decode_source(data, rel)


def check_files(view) -> Iterable[Finding]:
    """requirements.txt exists; the recommended documents exist (their content is the documents family's)."""
    if view.kind(REQUIREMENTS) is None:
        yield REQUIREMENTS_MISSING(f"{REQUIREMENTS} is missing", REQUIREMENTS)
    for name in DOCUMENTS:
        if view.kind(name) is None:
            yield DOCUMENT_MISSING(f"{name} is missing", name)
