"""sample_inputs.json: the project's sample inputs, one JSON list of records read by validate.py, the project's
tests and the load proof. Read here, judged by the backend family (PF508, PF509).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple, Optional

SAMPLES = "sample_inputs.json"


class Samples(NamedTuple):
    """The records, or why the text is not a list of records (and on which line, when known)."""

    records: Optional[list[dict[str, Any]]]
    problem: Optional[str] = None
    line: Optional[int] = None


def read_samples(text: str) -> Samples:
    """The records of a JSON list of objects, or why the text is not one."""
    try:
        records = json.loads(text)
    except ValueError as exc:
        return Samples(None, f"is not JSON: {getattr(exc, 'msg', exc)}", getattr(exc, "lineno", None))
    if not isinstance(records, list) or not records:
        return Samples(None, "must be a non-empty JSON list of input records", 1)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            return Samples(None, f"item {index} is {type(record).__name__}, not an object (a record of named fields)")
    return Samples(records)
