"""release and bump: the release rules in one command, so CI files hold nothing but install, release, publish.

`release --tag T` refuses unless T is v<version>, HEAD is tagged T and the tree is clean; then it checks with
the tests, writes the archive, its .sha256 and its SBOM, and proves the archive loads in a clean environment.
`bump VERSION` moves packflow.yaml and MODEL_CARD.md to the next version and says which git commands follow.
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

from . import gittree, naming
from .errors import CannotWrite, Refused, UsageError
from .findings import Policy
from .model.context import GitFacts, ProjectContext
from .model.gitinfo import GitRepo
from .model.options import LoadOptions, RunOptions
from .results import BumpResult, ChangedFile, ReleaseResult, Status


def check_release_state(ctx: ProjectContext, tag: str) -> str:
    """The version being released, or Refused saying exactly what is wrong with the tag or the tree."""
    project = ctx.root
    version = ctx.config.text_field("version")
    if version is None or naming.version_problem(version):
        raise Refused("packflow.yaml has no valid version; run `python -m packflow_export check` for the details")
    if tag != f"v{version}":
        raise Refused(f"tag {tag!r} does not match packflow.yaml's version {version}: the release tag must be "
                      f"v{version} (or bump the version: python -m packflow_export bump <version>)")
    repo, skipped = ctx.git
    if skipped:
        raise Refused(f"cannot tell which commit is released: {skipped}")
    if repo is None or repo.head() is None:
        raise Refused(f"{project} is not in a git checkout with a commit: a release is built from a tagged commit")
    if tag not in repo.tags_at_head():
        raise Refused(_untagged(repo, tag, version))
    changes = repo.changes()
    if changes is None:
        raise Refused("git cannot tell whether the work tree is clean")
    if changes:
        raise Refused(f"the work tree has {len(changes)} uncommitted change(s), e.g. {changes[0][3:]}: a release "
                      f"must be exactly the tagged commit; commit or stash them")
    _refuse_hidden_edits(repo)
    return version


def _untagged(repo: GitRepo, tag: str, version: str) -> str:
    """Why HEAD is not the release, and the command that fixes it: tagging HEAD only when the tag is free."""
    tagged = repo.run("rev-parse", "--verify", "-q", f"refs/tags/{tag}^{{commit}}")
    if not tagged:
        return f"HEAD is not tagged {tag}: check out the tagged commit, or tag this one (git tag {tag})"
    following = _next_version(version)
    return (f"{tag} already exists on commit {tagged.strip()[:12]}, and HEAD is a later commit: to release {tag}, "
            f"run the release from that commit (git checkout {tag}); to release HEAD, give it a new version "
            f"(python -m packflow_export bump {following}, commit, then git tag v{following})")


def _next_version(version: str) -> str:
    """The version after this one, for a hint: the last release number plus one (0.1.0 -> 0.1.1)."""
    match = re.fullmatch(r"((?:\d+!)?(?:\d+\.)*)(\d+)", version)
    return f"{match[1]}{int(match[2]) + 1}" if match else "<next version>"


def _refuse_hidden_edits(repo: GitRepo) -> None:
    """Refused when a tracked file differs from the commit where `git status` does not look (assume-unchanged,
    skip-worktree): the release would pack the commit while the person releasing sees another file."""
    try:
        hidden = gittree.hidden_changes(repo, gittree.commit_tree(repo))
    except gittree.GitTreeError as exc:
        raise Refused(f"cannot read the tagged commit: {exc}") from None
    edited = [change for change in hidden if change.differs or (change.differs is None and
                                                                "assume-unchanged" in change.flags)]
    if edited:
        first = edited[0]
        flag = first.flags[0]
        raise Refused(f"{len(edited)} tracked file(s) differ from the tagged commit where git status does not look, "
                      f"e.g. {first.path} ({', '.join(first.flags)}): a release must be exactly the tagged commit; "
                      f"git update-index --no-{flag} {first.path}, then commit the edit or undo it "
                      f"(git checkout -- {first.path})")


def release_project(project: Path, policy: Policy, tag: str, output_dir: Path, load_options: LoadOptions, *,
                    strict: bool = False, force: bool = False, allowed_secrets: Iterable[str] = ()) -> ReleaseResult:
    """Refuse a wrong tag or tree; else check with the tests, write archive, .sha256 and SBOM, prove the load."""
    from .exporter import export_project

    options = RunOptions(strict=strict, allowed_secrets=frozenset(allowed_secrets), run_tests=True,
                         test_timeout=load_options.timeout, load=load_options)
    ctx = ProjectContext(project, policy, options)
    version = check_release_state(ctx, tag)
    repo = ctx.git.repo
    assert repo is not None  # check_release_state refuses a project outside git
    with tempfile.TemporaryDirectory(prefix="packflow-release-") as folder:
        checkout = Path(folder) / ctx.root.name
        try:
            tree = gittree.commit_tree(repo)
            written = gittree.materialize(repo, tree, checkout)
        except (gittree.GitTreeError, OSError) as exc:
            raise Refused(f"cannot write out the tagged commit's files: {exc}") from None
        committed = CommitContext(checkout, policy, options, gittree.CommittedRepo(repo, tree, checkout, written))
        exported = export_project(committed, output_dir, force=force, sbom=True)
    return ReleaseResult(exported.status, tag, version, exported)


class CommitContext(ProjectContext):
    """The tagged commit's files written out from git's blobs: what a release checks and packs. Its git facts are
    the commit's, and what it packs is walked at once, so nothing a later step (the project's tests) adds to the
    folder is packed."""

    def __init__(self, checkout: Path, policy: Policy, options: RunOptions, repo: gittree.CommittedRepo):
        super().__init__(checkout, policy, options)
        self.committed = repo
        selection = self.selection
        repo.packed = lambda: [(item.name, item.path) for item in selection.files] if selection else []

    @property
    def git(self) -> GitFacts:
        return GitFacts(self.committed)


def _quoted_like(original: str, value: str) -> str:
    """The new scalar written the way the old one was (double, single or no quotes), never as a YAML number."""
    import yaml

    if original.startswith('"'):
        return naming.yaml_quote(value)
    if original.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    return value if yaml.safe_load(value) == value else naming.yaml_quote(value)


def bump_version(project: Path, new: str, date: Optional[str] = None) -> BumpResult:
    """Move packflow.yaml's version (keeping its comments and quoting) and the release's version and date lines of
    MODEL_CARD.md to `new`; nothing is written unless every change can be made and reads back as intended."""
    from .model.config import load_config
    from .model.views import DirectoryView

    problem = naming.version_problem(new)
    if problem:
        raise UsageError(f"VERSION {problem}")
    date = _release_date(date)
    config = load_config(DirectoryView(project))
    if config.problems or not isinstance(config.data, dict):
        why = config.problems[0].message if config.problems else "it is not a mapping"
        raise Refused(f"packflow.yaml cannot be read: {why}")
    old = config.text_field("version")
    if old is None or "version" not in config.spans or naming.normalize_version(old) is None:
        raise Refused("packflow.yaml has no version to bump; add version: \"0.1.0\" first")
    if naming.version_key(new) <= naming.version_key(old):
        raise Refused(f"{new} is not greater than the current version {old}")
    start, end = config.spans["version"]
    text = config.text or ""
    yaml_text = text[:start] + _quoted_like(text[start:end], new) + text[end:]
    _check_bumped(config.data, yaml_text, new)
    updates: list[tuple[str, str, list[int]]] = [("packflow.yaml", yaml_text, [text.count("\n", 0, start) + 1])]
    card = _bumped_card(project / "MODEL_CARD.md", old, new, date)
    if card is not None:
        updates.append(("MODEL_CARD.md", *card))
    _write_all(project, updates)
    files = " ".join(name for name, _, _ in updates)
    commands = (f"git add {files}", f'git commit -m "Release {new}"', f"git tag v{new}",
                f"git push --atomic origin HEAD v{new}")
    changed_files = tuple(ChangedFile(name, tuple(lines)) for name, _, lines in updates)
    return BumpResult(Status.BUMPED, old, new, changed_files, commands)


def _release_date(date: Optional[str]) -> str:
    """The release date: today (UTC) or the one given, which must be a date on the calendar."""
    date = date or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise UsageError(f"--date {date!r} must be YYYY-MM-DD")
    try:
        datetime.strptime(date, "%Y-%m-%d")
    except ValueError:
        raise UsageError(f"--date {date!r} is not a date on the calendar; give YYYY-MM-DD, e.g. 2026-11-27") from None
    return date


def _check_bumped(before: dict[str, object], text: str, new: str) -> None:
    """Refused unless the edited packflow.yaml loads and differs from the old one in its version alone: an anchor
    (`&v`), an alias (`*v`) or a block scalar (`>-`) is not a line bump can rewrite safely."""
    from .model.config import load_config
    from .model.views import ArchiveView

    data = text.encode("utf-8")
    after = load_config(ArchiveView("packflow.yaml", {"packflow.yaml": len(data)}, lambda _: iter((data,))))
    expected = {**before, "version": new}
    if after.problems or after.data != expected:
        why = after.problems[0].message if after.problems else "the result would change more than the version"
        raise Refused(f"packflow.yaml's version cannot be bumped safely ({why}): it is written as an anchor, an alias "
                      f"or a block scalar; write it as version: \"{before.get('version')}\" and bump again; nothing "
                      f"was changed")


def _bumped_card(card: Path, old: str, new: str, date: str) -> Optional[tuple[str, list[int]]]:
    """MODEL_CARD.md with the release's version line (the first **Version:** giving the current version, else the
    first one) and the **Release Date:** line after it moved to the new release; None when it has none."""
    if not card.is_file():
        return None
    data = card.read_bytes()
    try:
        card_text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise Refused(f"MODEL_CARD.md line {line} is not UTF-8 text (byte {exc.start}): save it as UTF-8 and bump "
                      f"again; nothing was changed") from None
    lines = card_text.splitlines(keepends=True)
    pattern = r"(\*\*{label}:\*\*[ \t]*)(.*?)([ \t]*\r?\n?)$"
    versions = [(index, match) for index, line in enumerate(lines)
                if (match := re.match(pattern.format(label="Version"), line))]
    if not versions:
        return None
    index, match = next(((i, m) for i, m in versions if m[2].strip() == old), versions[0])
    lines[index] = match[1] + new + match[3]
    changed = [index + 1]
    for later in range(index + 1, len(lines)):
        if re.match(pattern.format(label="Version"), lines[later]):
            break  # another release's entry: its date is not this one's
        dated = re.match(pattern.format(label="Release Date"), lines[later])
        if dated:
            lines[later] = dated[1] + date + dated[3]
            changed.append(later + 1)
            break
    return "".join(lines), changed


def _write_all(project: Path, updates: list[tuple[str, str, list[int]]]) -> None:
    """Write every file through a temporary one, then rename them all: either all change or (on error) none."""
    from .fsutil import AtomicFiles

    target = project
    try:
        with AtomicFiles() as files:
            for name, text, _ in updates:
                target = project / name
                files.write(target, text, target.stat().st_mode & 0o777)
            files.commit()
    except OSError as exc:
        raise CannotWrite(f"cannot write {target}: {exc.strerror or exc}") from None
