"""Finish the rendered project: only the chosen CI provider's files, the backend module where Packflow's loader
reads it, and one line when the project's packflow-export pin is not reachable from elsewhere.

CI providers are folders, ci/<choice>/ in the template: ci/<choice>/files/ holds what lands at the project's root
(README.md and gitignore beside it are included by the project's README.md and .gitignore). Adding a provider is a
folder plus its choice in cookiecutter.json; nothing here names one.
"""

import json
import shutil
import sys
from pathlib import Path

BACKEND_PATH = json.loads(r'''{{ cookiecutter.inference_backend | backend_path | tojson }}''')
CI = json.loads(r'''{{ cookiecutter.ci | tojson }}''')
NOTICE = json.loads(r'''{{ (cookiecutter | template_source).notice | tojson }}''')
RENDERED_MODULE = Path("_inference_backend.py")
PROVIDERS = Path("ci")


def keep_chosen_ci(project_dir, chosen):
    """Move the chosen provider's files to the project's root and remove every provider's folder."""
    providers = project_dir / PROVIDERS
    files = providers / chosen / "files"
    if files.is_dir():
        for entry in sorted(files.iterdir()):
            target = project_dir / entry.name
            if target.exists():
                raise OSError(f"ci/{chosen}/files/{entry.name} would replace the project's own {entry.name}")
            entry.replace(target)
    if providers.is_dir():
        shutil.rmtree(providers)


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


def main():
    try:
        keep_chosen_ci(Path.cwd(), CI)
    except OSError as exc:
        print(f"ERROR: ci: could not place the {CI!r} CI files: {exc}", file=sys.stderr)
        return 1
    try:
        place_backend_module(Path.cwd(), BACKEND_PATH)
    except OSError as exc:
        print(f"ERROR: inference_backend: could not create the backend module {BACKEND_PATH!r}: {exc}", file=sys.stderr)
        return 1
    if NOTICE:
        print(NOTICE, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
