"""Finish the rendered project: the backend module where Packflow's loader reads it, and only the chosen CI."""

import json
import shutil
import sys
from pathlib import Path

BACKEND_PATH = json.loads(r'''{{ cookiecutter.inference_backend | backend_path | tojson }}''')
CI = json.loads(r'''{{ cookiecutter.ci | tojson }}''')
RENDERED_MODULE = Path("_inference_backend.py")
CI_FILES = {"github": [Path(".github")], "gitlab": [Path(".gitlab-ci.yml")]}


def place_backend_module(project_dir, relative_path):
    """Move the rendered module to its path (a/b.py), making each parent folder a package."""
    target = project_dir / relative_path
    package_dir = project_dir
    for part in Path(relative_path).parts[:-1]:
        package_dir = package_dir / part
        package_dir.mkdir(exist_ok=True)
        init = package_dir / "__init__.py"
        if not init.exists():
            init.write_text(f'"""The {part} package of this Packflow project."""\n', encoding="utf-8", newline="\n")
    (project_dir / RENDERED_MODULE).replace(target)
    return target


def keep_chosen_ci(project_dir, chosen):
    """Remove the CI files of every system but the chosen one."""
    for system, paths in CI_FILES.items():
        if system == chosen:
            continue
        for path in paths:
            target = project_dir / path
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


def main():
    try:
        place_backend_module(Path.cwd(), BACKEND_PATH)
        keep_chosen_ci(Path.cwd(), CI)
    except OSError as exc:
        print(f"ERROR: inference_backend: could not create the backend module {BACKEND_PATH!r}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
