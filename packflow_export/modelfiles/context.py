"""State shared by everything that analyses one file: allow-list, bounds, counters, the issues found."""

from __future__ import annotations

from .allowlist import AllowList
from .results import Issue, IssueKind, Limits

# An import issue is upgraded in place when the same global is later called or instantiated.
_UPGRADES = {IssueKind.IMPORT: (IssueKind.CALL, IssueKind.NEW)}


class LimitHit(Exception):
    """A bound of Limits was reached: the analysis stops and the scan is incomplete."""


class Unavailable(Exception):
    """A container this installation cannot open (an optional dependency is missing)."""


class Context:
    """One file's analysis: counts against the limits and collects deduplicated issues."""

    def __init__(self, name: str, allow: AllowList, limits: Limits) -> None:
        self.name = name
        self.allow = allow
        self.limits = limits
        self.opcodes = 0
        self.retained = 0
        self.pickles = 0
        self.decompressed = 0
        self.members = 0
        self.globals: set[str] = set()
        self.distributions: set[str] = set()
        self.compression: list[str] = []
        self.complete = True
        self._issues: dict[tuple[str, str, str], Issue] = {}
        self._dropped = 0

    def display(self, member: str) -> str:
        """The file name as the user knows it, with the member inside it."""
        return f"{self.name} ({member})" if member else self.name

    def issue(self, kind: IssueKind, subject: str, member: str, offset: int, text: str, kept: bool = False) -> None:
        """Record `name: text` once per member, subject and kind (an import upgraded to a call or a new); past
        max_issues only a `kept` one is (what left the scan incomplete must always be said)."""
        message = f"{self.display(member)}: {text}"
        found = Issue(kind, subject, member, offset, message)
        group = "use" if kind in (IssueKind.IMPORT, IssueKind.CALL, IssueKind.NEW) else kind.value
        key = (member, subject, group)
        old = self._issues.get(key)
        if old is not None:
            if kind in _UPGRADES.get(old.kind, ()):
                self._issues[key] = found
            return
        if len(self._issues) >= self.limits.max_issues and not kept:
            self._dropped += 1
            return
        self._issues[key] = found

    def incomplete(self, kind: IssueKind, subject: str, member: str, offset: int, text: str) -> None:
        """An issue that also leaves the scan incomplete."""
        self.complete = False
        self.issue(kind, subject, member, offset, text, kept=True)

    def issues(self) -> tuple[Issue, ...]:
        """Issues in the order found."""
        return tuple(self._issues.values())

    def count_pickle(self) -> None:
        """One more pickle analysed; bounded."""
        self.pickles += 1
        if self.pickles > self.limits.max_pickles:
            raise LimitHit(f"more than {self.limits.max_pickles} pickles in one file")

    def count_member(self) -> None:
        """One more archive member looked at; bounded."""
        self.members += 1
        if self.members > self.limits.max_members:
            raise LimitHit(f"more than {self.limits.max_members} archive members")
