"""How a family declares a check: the function, every rule it can raise, what it needs and when it runs. The runner
(runner.py) reads these declarations, never a rule's code, to decide what runs for check, export and verify.
"""

from __future__ import annotations

from enum import Flag, IntEnum, auto
from typing import Callable, Iterable, NamedTuple

from ..findings import Finding, Rule
from ..model.context import ArchiveContext, Context, ProjectContext, Subject


class Need(Flag):
    """What a check reads or does; it decides which subjects the check runs on and when the runner runs it."""

    FILES = auto()  # the project's files through its view: a folder, or an archive's members
    FOLDER = auto()  # a folder on disk: the walk that selects what an archive would hold
    GIT = auto()  # git facts about the folder
    TESTS = auto()  # runs the project's own tests (--run-tests)
    ARCHIVE = auto()  # an archive's records: its end record, directory and headers
    STREAM = auto()  # every byte of every file: the content scan (export runs it beside the writer)
    LOAD = auto()  # unpacks the archive and loads it in a clean environment (--load)
    COMMIT = auto()  # the files being committed (the pre-commit hook names them): runs only in the hook


FOLDER_ONLY = Need.FOLDER | Need.GIT | Need.TESTS | Need.COMMIT
ARCHIVE_ONLY = Need.ARCHIVE | Need.LOAD


class Stage(IntEnum):
    """When a check runs; each stage runs only if the ones before left the subject readable."""

    LOCATE = 1  # where an archive's records are: nothing else can be read if they are not where they must be
    RECORDS = 2  # an archive's records: sound before any member is read
    FILES = 3  # the readiness rules on the project's files
    RUN = 4  # runs the project: its tests, the load proof
    SEAL = 5  # what travels beside an archive: its .sha256


class Check(NamedTuple):
    """One check of a family."""

    name: str
    run: Callable[[Context], Iterable[Finding]]
    raises: tuple[Rule, ...]  # every rule the check can raise
    needs: Need = Need.FILES
    stage: Stage = Stage.FILES

    @property
    def subjects(self) -> frozenset[Subject]:
        """Where the check runs: what it needs says whether a folder, an archive or both."""
        if self.needs & FOLDER_ONLY and self.needs & ARCHIVE_ONLY:
            return frozenset()
        if self.needs & FOLDER_ONLY:
            return frozenset({Subject.FOLDER})
        if self.needs & ARCHIVE_ONLY:
            return frozenset({Subject.ARCHIVE})
        return frozenset(Subject)


def folder_of(ctx: Context) -> ProjectContext:
    """The context of a check that needs a folder (the runner runs it on nothing else)."""
    if not isinstance(ctx, ProjectContext):
        raise TypeError(f"a folder check ran on {ctx.subject.value} {ctx.label}")
    return ctx


def archive_of(ctx: Context) -> ArchiveContext:
    """The context of a check that needs an archive (the runner runs it on nothing else)."""
    if not isinstance(ctx, ArchiveContext):
        raise TypeError(f"an archive check ran on {ctx.subject.value} {ctx.label}")
    return ctx
