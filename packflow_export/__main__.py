"""Command line: `python -m packflow_export [check|export|verify] ...`; heavy imports wait for the command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_CANNOT_WRITE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("check", "export", "verify")
EPILOG = """exit codes: 0 ready/written/verified; 1 blocked by findings (or a bad archive);
2 usage error or not a Packflow project; 3 cannot write the archive; 130 interrupted.
With no command, `export` runs: python -m packflow_export [PROJECT_PATH]."""


class CommandError(Exception):
    """A failure with a one-line message and an exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _error(message: str) -> None:
    print(f"packflow_export: error: {message}", file=sys.stderr)


@contextlib.contextmanager
def _handle_errors():
    """Turn known failures into one-line messages instead of tracebacks."""
    from .config import UsageError

    try:
        yield
    except UsageError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted", EXIT_INTERRUPTED) from None


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=".", metavar="PROJECT_PATH",
                        help="the Packflow project folder (default: the current directory)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
    parser.add_argument("--strict", action="store_true", help="warnings block too")
    parser.add_argument("--policy", type=Path, metavar="FILE", help="readiness policy to use instead of the bundled one")
    parser.add_argument("--run-tests", action="store_true", help="also run the project's pytest suite and validate.py")
    parser.add_argument("--test-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="time limit for each of --run-tests' runs (default: 600)")


def _make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m packflow_export",
        description="Check that a Packflow project is ready for distribution, and export it as a verified archive.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-V", "--version", action="version", version=f"packflow_export {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="report what blocks a release (default: the current directory)",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_check_options(check)
    return parser


def _colour(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def print_report(report, stream=None) -> None:
    """Linter-style lines, `path:line: CODE severity: message`, a hint each, then a summary."""
    stream = stream or sys.stdout
    paint = _colour(stream)
    colours = {"error": "31", "warning": "33", "info": "36"}
    hinted = set()
    for item in report.findings:
        where = item.path or "."
        if item.line:
            where += f":{item.line}"
        severity = f"\033[{colours[item.severity]}m{item.severity}\033[0m" if paint else item.severity
        first, *rest = item.message.splitlines() or [""]
        print(f"{where}: {item.code} {severity}: {first}", file=stream)
        for line in rest:
            print(f"    | {line}", file=stream)
        if item.hint and (item.code, item.hint) not in hinted:
            hinted.add((item.code, item.hint))
            print(f"    hint: {item.hint}", file=stream)
    errors, warnings, infos = (report.count(s) for s in ("error", "warning", "info"))
    verdict = "ready for release" if report.ok else "not ready: fix the errors above" + (
        " (strict: warnings block too)" if report.strict and not errors else "")
    print(f"{report.project}: {errors} error(s), {warnings} warning(s), {infos} info: {verdict}", file=stream)


def resolve_project(path: Path) -> Path:
    """The project folder, or a CommandError (exit 2) saying why it is not a Packflow project."""
    from .config import CONFIG_NAME

    if not path.exists():
        raise CommandError(f"{path}: no such directory", EXIT_USAGE)
    if not path.is_dir():
        raise CommandError(f"{path}: not a directory; give the project folder", EXIT_USAGE)
    if not (path / CONFIG_NAME).exists():
        raise CommandError(f"{path}: not a Packflow project (no {CONFIG_NAME}); create one with cookiecutter", EXIT_USAGE)
    return path.resolve()


def readiness(args):
    """Run the checks the options ask for."""
    from .checks import run_checks
    from .config import load_policy

    project = resolve_project(args.project if isinstance(args.project, Path) else Path(args.project))
    policy = load_policy(args.policy)
    return run_checks(project, policy, strict=args.strict, run_tests=args.run_tests, test_timeout=args.test_timeout)


def cmd_check(args) -> int:
    report = readiness(args)
    if args.json:
        import json

        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print_report(report)
    return EXIT_OK if report.ok else EXIT_BLOCKED


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "-V", "--version"):
        argv.insert(0, "export")
    elif not argv:
        argv = ["export"]
    args = _make_parser().parse_args(argv)
    handlers = {"check": cmd_check}
    try:
        with _handle_errors():
            return handlers[args.command](args)
    except CommandError as exc:
        _error(str(exc))
        return exc.code


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
