"""One run over one subject, a project folder or an archive: its files, its policy and options, and every fact the
checks read, each parsed once and only when a check first asks (packflow.yaml, requirements, the backend's
modules, the walk that selects what an archive holds, git).
"""

from __future__ import annotations

from enum import Enum
from functools import cached_property, partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple, Optional

from .backend import BackendTarget, ParsedModule, ProjectModule, backend_target, find_backend_module, parse_module
from .backend import project_modules
from .config import ProjectConfig, load_config
from .options import Phase, RunOptions
from .requirements import Requirements, read_requirements
from .views import ArchiveView, CorruptMember, DirectoryView, Unreadable, View, open_regular, read_chunks

if TYPE_CHECKING:
    from ..findings import Policy
    from .gitinfo import GitRepo
    from .records import ArchiveFile
    from .selection import Selection


class Subject(Enum):
    """What a run checks: a project folder (check, export) or an archive (verify)."""

    FOLDER = "folder"
    ARCHIVE = "archive"


class GitFacts(NamedTuple):
    """The repository holding a project folder (None outside one), or why git was not asked."""

    repo: Optional[GitRepo] = None
    skipped: Optional[str] = None


class ScanEntry(NamedTuple):
    """One file as the content scan reads it: its bytes in chunks, and (for a folder) the file again, seekable."""

    name: str
    size: int
    open_chunks: Callable[[], Iterable[bytes]]
    reopen: Optional[Callable[[], IO[bytes]]]


class PolicySource(NamedTuple):
    """What the archive recorded about its own verdict and what verify made of it: whether it recorded a policy
    other than the verifier's, whether the verifier accepted it, the relaxations it asks for ("PF805 error->off"),
    the integrity and model-file rules kept at the verifier's level, what its model_allowlist would add to the
    verifier's (shown, never applied), or why the recorded policy was refused."""

    recorded: bool = False
    refused: Optional[str] = None
    accepted: bool = False
    relaxed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    allowlist: tuple[str, ...] = ()


class Context:
    """What every check reads; a subclass says where the files are."""

    subject: Subject

    def __init__(self, view: View, policy: Policy, options: RunOptions):
        self.view, self.policy, self.options = view, policy, options
        self.phases: list[Phase] = []  # what the load proof did, when it ran
        self._parsed: dict[str, ParsedModule] = {}

    @property
    def label(self) -> str:
        return self.view.label

    @property
    def strict(self) -> bool:
        return self.options.strict

    @cached_property
    def config(self) -> ProjectConfig:
        return load_config(self.view)

    @cached_property
    def requirements(self) -> Requirements:
        return read_requirements(self.view)

    @cached_property
    def backend(self) -> Optional[BackendTarget]:
        return backend_target(self.config)

    @cached_property
    def backend_module(self) -> Optional[str]:
        return find_backend_module(self.view, self.backend)

    def parsed(self, rel: str) -> ParsedModule:
        """A project module's tree (or why it has none), parsed once however many checks read it."""
        if rel not in self._parsed:
            self._parsed[rel] = parse_module(self.view, rel)
        return self._parsed[rel]

    @cached_property
    def modules(self) -> list[ProjectModule]:
        """The backend module and the project modules it imports, transitively."""
        return project_modules(self.view, self.backend, self.backend_module, self.parsed)

    @property
    def selection(self) -> Optional[Selection]:
        """The files an archive of the project would hold (None: every file is in the archive already)."""
        return None

    @property
    def git(self) -> GitFacts:
        return GitFacts()

    def names(self) -> list[str]:
        """The names an archive holds, or would hold."""
        raise NotImplementedError

    def scan_entries(self) -> list[ScanEntry]:
        """Every file the archive holds, or would hold, as the content scan reads it."""
        raise NotImplementedError


class ProjectContext(Context):
    """A project folder, for check and export."""

    subject = Subject.FOLDER

    def __init__(self, root: Path, policy: Policy, options: Optional[RunOptions] = None):
        self.folder = DirectoryView(root)
        super().__init__(self.folder, policy, options or RunOptions())

    @property
    def root(self) -> Path:
        return self.folder.root

    @cached_property
    def selection(self) -> Optional[Selection]:
        """What an archive would hold; None when packflow.yaml gives no name to tell its archives by."""
        from .selection import select_files

        name = self.config.text_field("name")
        return select_files(self.root, name) if name else None

    @cached_property
    def git(self) -> GitFacts:
        from .gitinfo import GitRepo

        repo, skipped = GitRepo.open(self.root)
        return GitFacts(repo, skipped)

    def names(self) -> list[str]:
        return [item.name for item in self.selection.files] if self.selection is not None else []

    def scan_entries(self) -> list[ScanEntry]:
        if self.selection is None:
            return []
        return [ScanEntry(item.name, item.size, partial(read_chunks, item.path, item.identity),
                          partial(open_regular, item.path, item.identity)) for item in self.selection.files]


class ArchiveContext(Context):
    """An archive's members, for verify; its records are read before anything else."""

    subject = Subject.ARCHIVE

    def __init__(self, archive: ArchiveFile, policy: Policy, options: RunOptions, *,
                 policy_source: Optional[PolicySource] = None, max_size: int = 64 << 30):
        super().__init__(ArchiveView(str(archive.path), archive.members, self._readable_chunks), policy, options)
        self.archive, self.policy_source, self.max_size = archive, policy_source or PolicySource(), max_size

    def _readable_chunks(self, name: str) -> Iterator[bytes]:
        try:
            yield from self.archive.member_chunks(name)
        except CorruptMember as exc:
            raise Unreadable(f"does not read back intact: {exc}") from None

    def names(self) -> list[str]:
        return list(self.archive.members)

    def scan_entries(self) -> list[ScanEntry]:
        return [ScanEntry(name, size, partial(self.archive.member_chunks, name), None)
                for name, size in self.archive.members.items()]
