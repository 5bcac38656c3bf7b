"""unpack.py: hostile archives built with Python's zipfile are refused whatever any policy says, and nothing is
ever written outside the destination (a decoy tree around it is compared before and after)."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import PEM, archive_of, hostile_zip, policy_override_archive, snapshot, zip_members
from packflow_export.unpack import Member, UnsafeMember, name_problem, plan, unpack

REGULAR = stat.S_IFREG | 0o644


@pytest.fixture
def decoy(tmp_path) -> Path:
    """A tree around the destination: `victims/` three levels above it, and the destination's parents."""
    victims = tmp_path / "victims"
    victims.mkdir()
    (victims / "x.txt").write_text("the original\n", encoding="utf-8")
    (tmp_path / "a" / "b").mkdir(parents=True)
    return tmp_path


def destination(decoy: Path) -> Path:
    return decoy / "a" / "b" / "dest"


HOSTILE = {
    "parent": ([("../../../victims/x.txt", b"owned", REGULAR)], "parent"),
    "parent-inside": ([("ok/../../../../victims/x.txt", b"owned", REGULAR)], "parent"),
    "absolute": ([("/tmp/x", b"owned", REGULAR)], "absolute"),
    "backslash": ([("..\\..\\..\\victims\\x.txt", b"owned", REGULAR)], "backslash"),
    "drive": ([("C:/victims/x.txt", b"owned", REGULAR)], "drive"),
    "empty-part": ([("a//x.txt", b"owned", REGULAR)], "empty-part"),
    "dot": ([("./x.txt", b"owned", REGULAR)], "empty-part"),
    "symlink": ([("link", b"../../../victims", stat.S_IFLNK | 0o777), ("link/x.txt", b"owned", REGULAR)], "link"),
    "char-device": ([("null", b"", stat.S_IFCHR | 0o666)], "device"),
    "block-device": ([("disk", b"", stat.S_IFBLK | 0o660)], "device"),
    "fifo": ([("pipe", b"", stat.S_IFIFO | 0o644)], "fifo"),
    "setuid": ([("run.sh", b"#!/bin/sh\n", stat.S_IFREG | stat.S_ISUID | 0o755)], "setuid"),
    "setgid": ([("run.sh", b"#!/bin/sh\n", stat.S_IFREG | stat.S_ISGID | 0o755)], "setuid"),
    "file-and-folder": ([("notes", b"a file", REGULAR), ("notes/a.txt", b"inside", REGULAR)], "clash"),
    "folder-then-file": ([("notes/a.txt", b"inside", REGULAR), ("notes", b"a file", REGULAR)], "clash"),
    "file-and-folder-entry": ([("notes", b"a file", REGULAR), ("notes/", b"", stat.S_IFDIR | 0o755)], "clash"),
    "duplicate": ([("x.txt", b"one", REGULAR), ("x.txt", b"two", REGULAR)], "duplicate"),
    "too-long": ([("a" * 300, b"owned", REGULAR)], "too-long"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_member_is_refused_and_nothing_is_written(decoy, tmp_path, case):
    members, kind = HOSTILE[case]
    archive = hostile_zip(tmp_path / f"{case}.zip", [("packflow.yaml", b"name: x\n", REGULAR), *members])
    before = snapshot(decoy)
    with pytest.raises(UnsafeMember) as raised:
        unpack(zip_members(archive), destination(decoy))
    assert raised.value.kind == kind and raised.value.member in {name.rstrip("/") for name, _, _ in members} | {
        name for name, _, _ in members}
    assert snapshot(decoy) == before and not destination(decoy).exists()
    assert not Path("/tmp/x").exists() or case != "absolute"


def test_the_issue_archive_with_a_permissive_comment_is_refused_whatever_it_says(project, decoy, tmp_path):
    """Item 1: the comment switches the rules off; unpacking takes no policy, so it cannot be switched off."""
    clean = archive_of(project, tmp_path / "clean.zip")
    hostile = policy_override_archive(clean, tmp_path / "my_analytic-0.1.0.zip")
    assert b"PF805" in zipfile.ZipFile(hostile).comment
    before = snapshot(decoy)
    with pytest.raises(UnsafeMember, match=r"\.\./\.\./\.\./victims/x\.txt") as raised:
        unpack(zip_members(hostile), destination(decoy))
    assert raised.value.kind == "parent"
    assert snapshot(decoy) == before and not destination(decoy).exists()


def test_a_clean_archive_unpacks_exactly(project, decoy, tmp_path):
    (project / "run.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (project / "run.sh").chmod(0o755)
    (project / "data").mkdir()
    (project / "data" / "nested").mkdir()
    (project / "data" / "nested" / "id_rsa_example.txt").write_text(PEM, encoding="utf-8")
    archive = archive_of(project, tmp_path / "clean.zip")
    before = snapshot(decoy)
    result = unpack(zip_members(archive), destination(decoy))
    expected = {p.relative_to(project).as_posix(): p.read_bytes() for p in project.rglob("*") if p.is_file()}
    got = {p.relative_to(result.root).as_posix(): p.read_bytes() for p in result.root.rglob("*") if p.is_file()}
    assert got == expected and result.files == len(expected) and result.bytes == sum(map(len, expected.values()))
    folders = {p.relative_to(project) for p in project.rglob("*") if p.is_dir() and any(p.iterdir())}
    assert result.folders == len(folders) and os.access(result.root / "run.sh", os.X_OK)
    assert not os.access(result.root / "packflow.yaml", os.X_OK)
    assert stat.S_IMODE(result.root.stat().st_mode) == 0o700
    outside = {k: v for k, v in snapshot(decoy).items() if not k.startswith("a/b/dest/")}
    assert outside == before


def test_names_zipfile_cannot_write_are_refused_too(decoy):
    """A NUL inside a name (zipfile cuts the name there; a raw central directory can hold it)."""
    with pytest.raises(UnsafeMember) as raised:
        unpack([Member("x\0/../../x.txt", REGULAR, 1, lambda: iter([b"z"]))], destination(decoy))
    assert raised.value.kind == "nul" and not destination(decoy).exists()


def test_the_destination_must_be_new(decoy):
    destination(decoy).mkdir()
    with pytest.raises(FileExistsError):
        unpack([], destination(decoy))


def test_a_link_planted_where_a_folder_goes_is_not_followed(decoy, tmp_path):
    """Creation is relative to open folder descriptors with O_NOFOLLOW: even a link that appears in the
    destination while unpacking (here: planted by the first member's reader) is never followed."""
    target = destination(decoy)

    def plant():
        os.symlink(decoy / "victims", target / "sub")
        yield b"first"

    members = [Member("a.txt", REGULAR, 5, plant), Member("sub/x.txt", REGULAR, 5, lambda: iter([b"owned"]))]
    before = snapshot(decoy / "victims")
    with pytest.raises(UnsafeMember) as raised:
        unpack(members, target)
    assert raised.value.kind == "clash" and raised.value.member == "sub/x.txt"
    assert snapshot(decoy / "victims") == before and not target.exists()


def test_sizes_are_bounded_before_and_while_writing(decoy):
    big = [Member("a.bin", REGULAR, 600, lambda: iter([b"x" * 600])),
           Member("b.bin", REGULAR, 600, lambda: iter([b"x" * 600]))]
    with pytest.raises(UnsafeMember, match="past 1000 bytes") as raised:
        unpack(big, destination(decoy), max_bytes=1000)
    assert raised.value.kind == "too-large"
    liar = [Member("a.bin", REGULAR, 10, lambda: iter([b"x" * 4096] * 1000))]
    with pytest.raises(UnsafeMember, match="more than the 10 bytes") as raised:
        unpack(liar, destination(decoy))
    assert not destination(decoy).exists()
    short = [Member("a.bin", REGULAR, 10, lambda: iter([b"x"]))]
    with pytest.raises(UnsafeMember, match="holds 1 bytes, not the 10"):
        unpack(short, destination(decoy))
    with pytest.raises(UnsafeMember, match="limit of 1 members"):
        unpack(big, destination(decoy), max_members=1)


def test_members_without_a_unix_mode_are_plain_files(decoy, tmp_path):
    archive = tmp_path / "dos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        info = zipfile.ZipInfo("docs/readme.txt")
        info.create_system = 0
        handle.writestr(info, "hello")
    result = unpack(zip_members(archive), destination(decoy))
    assert (result.root / "docs" / "readme.txt").read_text() == "hello"


PART = st.sampled_from(["a", "b", "..", ".", "", "x.txt", "C:", "\\", "..\\x", "é", "\u202e", "/"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.lists(PART, min_size=1, max_size=4).map("/".join), min_size=1, max_size=6))
def test_any_names_are_refused_or_land_inside(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "a" / "b").mkdir(parents=True)
    (root / "victims").mkdir()
    before = snapshot(root)
    members = [Member(name, REGULAR, 1, lambda: iter([b"z"])) for name in names]
    try:
        result = unpack(members, root / "a" / "b" / "dest")
    except UnsafeMember as exc:
        assert exc.member in names or exc.member in {n.rstrip("/") for n in names} or exc.kind == "clash"
        assert snapshot(root) == before
        return
    for name in names:
        assert name_problem(name) is None
    written = {k for k in snapshot(root) if k not in before}
    assert all(k.startswith("a/b/dest/") for k in written) and len(written) == result.files


def test_plan_orders_parents_first_and_refuses_before_writing():
    members = [Member(n, REGULAR, 0, lambda: iter([])) for n in ("z/a.txt", "a.txt", "z/b/c.txt")]
    assert [m.name for m in plan(members)] == ["a.txt", "z/a.txt", "z/b/c.txt"]
