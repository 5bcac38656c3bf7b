"""Refuse bad answers before cookiecutter writes anything (it removes the folder when this exits non-zero).

The answers were checked by local_extensions.py (with packflow_export/naming.py and a fork's answers.json) while
this file was rendered; they arrive here as JSON data, never as code, so a value with quotes or backslashes
cannot break this file.
"""

import json
import sys

PROBLEMS = json.loads(r'''{{ cookiecutter | answer_problems | tojson }}''')
RERUN = json.loads(r'''{{ cookiecutter | rerun_command(cookiecutter | answer_problems) | tojson }}''')


def main():
    for variable, message, _ in PROBLEMS:
        print(f"ERROR: {variable}: {message}", file=sys.stderr)
    if PROBLEMS:
        print("\nNothing was written. This command bakes again with every other answer kept and each refused one "
              "replaced by its suggested fix or left empty ('') for you to fill in:\n\n    " + RERUN + "\n",
              file=sys.stderr)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
