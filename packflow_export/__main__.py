"""Command line: `python -m packflow_export [check|export|verify] ...`; heavy imports wait for the command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_CANNOT_WRITE = 0, 1, 2, 3
EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 70, 130, 143
COMMANDS = ("check", "export", "verify")
EPILOG = """exit codes: 0 ready/written/verified; 1 blocked by findings (or a bad archive);
2 usage error or not a Packflow project; 3 cannot write the archive; 70 internal error (a bug: please report it);
130 interrupted (143 on SIGTERM).
With no command, `export` runs: python -m packflow_export [PROJECT_PATH]."""


class CommandError(Exception):
    """A failure with a one-line message and an exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _error(message: str) -> None:
    print(f"packflow_export: error: {message}", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every cleanup runs."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _handle_errors():
    """Turn known failures into one-line messages instead of tracebacks."""
    import signal

    from .config import UsageError

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except UsageError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except Terminated:
        raise CommandError("terminated; nothing was left under the archive's name", EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted; nothing was left under the archive's name", EXIT_INTERRUPTED) from None
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: a bug gets one line, the traceback on request
        if os.environ.get("PACKFLOW_EXPORT_DEBUG"):
            raise
        raise CommandError(f"internal error: {type(exc).__name__}: {exc} (set PACKFLOW_EXPORT_DEBUG=1 for details)",
                           EXIT_INTERNAL) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=Path("."), type=Path, metavar="PROJECT_PATH",
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

    export = commands.add_parser("export", help="check, then write {name}-{version}.zip and its .sha256 (the default command)",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_check_options(export)
    export.add_argument("-o", "--output-dir", type=Path, default=Path("."), metavar="DIR",
                        help="where to write the archive (default: the current directory)")
    export.add_argument("--force", action="store_true", help="overwrite an existing archive of the same name")
    export.add_argument("--dry-run", action="store_true", help="list what would be packed; write nothing")
    export.add_argument("--quiet", action="store_true", help="print only what blocks the export")
    export.add_argument("--allow-secret", action="append", default=[], metavar="PATH",
                        help="pack this project file even though it looks like a secret (repeatable)")

    verify = commands.add_parser("verify", help="check an exported archive: CRCs, names, packflow.yaml, checksum, secrets",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("archive", type=Path, metavar="ARCHIVE")
    verify.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
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

    project = resolve_project(args.project)
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


class Progress:
    """A progress bar on stderr, only on a terminal and only once the export takes more than a moment."""

    def __init__(self, total: int, stream=None):
        import time

        self.total, self.done, self.stream = max(total, 1), 0, stream or sys.stderr
        self.clock = time.monotonic
        self.started, self.shown, self.last = self.clock(), False, 0.0

    def __call__(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if now - self.started < 0.5 or now - self.last < 0.1:
            return
        self.last, self.shown = now, True
        filled = int(30 * self.done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {100 * self.done // self.total:3d}% "
                          f"{self.done / 2**20:,.0f}/{self.total / 2**20:,.0f} MiB")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def cmd_export(args) -> int:
    from .archive import ArchiveError
    from .config import load_policy
    from .exporter import describe_members, plan_export, write_plan

    project = resolve_project(args.project)
    output_dir = args.output_dir
    if not output_dir.is_dir():
        raise CommandError(f"output directory {output_dir} does not exist", EXIT_CANNOT_WRITE)
    plan = plan_export(project, load_policy(args.policy), output_dir, strict=args.strict,
                       allowed_secrets=set(args.allow_secret), run_tests=args.run_tests, test_timeout=args.test_timeout)
    report = plan.report
    if report.ok and args.dry_run:
        plan.members = describe_members(plan.selection)
    elif report.ok:
        progress = None
        if sys.stderr.isatty() and not (args.json or args.quiet):
            progress = Progress(plan.selection.total_size)
        try:
            write_plan(plan, project, force=args.force, progress=progress)
        except ArchiveError as exc:
            raise CommandError(str(exc), EXIT_CANNOT_WRITE) from None
        finally:
            if progress:
                progress.close()
    if args.json:
        import json

        print(json.dumps(export_json(plan), ensure_ascii=False))
    elif not args.quiet or not report.ok:
        print_export(plan, quiet=args.quiet)
    return EXIT_OK if report.ok else EXIT_BLOCKED


def export_json(plan) -> dict:
    data = plan.report.as_dict()
    if plan.result:
        data["archive"] = {"path": str(plan.result.path), "sha256": plan.result.sha256, "size": plan.result.size,
                           "files": [m._asdict() for m in plan.result.members]}
    elif plan.members:
        data["archive"] = {"path": str(plan.target), "sha256": None, "size": None,
                           "files": [m._asdict() for m in plan.members]}
    else:
        data["archive"] = None
    return data


def print_export(plan, quiet: bool = False) -> None:
    if quiet:
        plan.report.findings = [f for f in plan.report.findings if f.severity == "error"]
    print_report(plan.report)
    if plan.members:
        total = sum(m.size for m in plan.members)
        print(f"\nwould write {plan.target} with {len(plan.members)} file(s), {total:,} bytes before compression:")
        for member in plan.members:
            print(f"  {member.size:>14,}  {member.method:<8}  {member.name}")
        stored = sum(m.size for m in plan.members if m.method == "stored")
        print(f"  {total:>14,}  total ({stored:,} stored, {total - stored:,} deflated)")
    if plan.result:
        result = plan.result
        print(f"wrote {result.path} ({len(result.members)} files, {result.size:,} bytes)")
        print(f"sha256 {result.sha256}  {result.path.name}  (also in {result.path.name}.sha256)")


def cmd_verify(args) -> int:
    from .archive import verify_archive

    if not args.archive.is_file():
        raise CommandError(f"{args.archive}: no such archive", EXIT_USAGE)
    result = verify_archive(args.archive)
    if args.json:
        import json

        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        for problem in result.problems:
            print(f"{args.archive.name}: {problem}")
        verdict = "verified" if result.ok else f"{len(result.problems)} problem(s)"
        print(f"{args.archive}: {result.members} member(s): {verdict}")
    return EXIT_OK if result.ok else EXIT_BLOCKED


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "-V", "--version"):
        argv.insert(0, "export")
    elif not argv:
        argv = ["export"]
    args = _make_parser().parse_args(argv)
    handlers = {"check": cmd_check, "export": cmd_export, "verify": cmd_verify}
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
