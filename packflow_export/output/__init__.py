"""What the commands print, one reporter per format, chosen once by the command line: text for a person, one JSON
object for a script, SARIF 2.1.0 for code scanning. Each renders the typed result a command returns."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Optional, Protocol, TextIO

if TYPE_CHECKING:
    from ..results import Result


class Format(Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


class Reporter(Protocol):
    def render(self, result: Result) -> None: ...

    def error(self, code: int, message: str) -> None: ...


def reporter_for(format: Format, stream: Optional[TextIO] = None, *, verbose: bool = False,
                 quiet: bool = False) -> Reporter:
    """The reporter of a format (imported only when chosen)."""
    if format is Format.JSON:
        from .json_output import JsonReporter

        return JsonReporter(stream)
    if format is Format.SARIF:
        from .sarif import SarifReporter

        return SarifReporter(stream)
    from .text import TextReporter

    return TextReporter(stream, verbose=verbose, quiet=quiet)
