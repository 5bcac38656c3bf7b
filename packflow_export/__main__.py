"""Command line: `python -m packflow_export [check|export|verify|rules] ...`. Parses, dispatches, and maps
failures to exit codes in one place; the work is in the library modules, the printing in output.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .errors import (EXIT_BLOCKED, EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED,
                     NotAProject, PackflowExportError, Terminated, UsageError)

COMMANDS = ("check", "export", "verify", "release", "bump", "rules")
EPILOG = EXIT_CODES_HELP + "\nWith no command, `export` runs: python -m packflow_export [PROJECT_PATH]."


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so --json can answer usage errors too."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _size(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    number, unit = text.rstrip("bBiI"), ""
    if number and number[-1].lower() in units:
        number, unit = number[:-1], number[-1].lower()
    try:
        return int(float(number) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 64G or 500M") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
    parser.add_argument("--strict", action="store_true", help="warnings block too")
    parser.add_argument("--policy", type=Path, metavar="FILE", help="readiness policy to use instead of the bundled one")
    parser.add_argument("--allow-secret", action="append", default=[], metavar="PATH",
                        help="accept this file although it looks like a secret (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every finding (repeats are grouped otherwise)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only what blocks")


def _project_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=Path("."), type=Path, metavar="PROJECT_PATH",
                        help="the Packflow project folder (default: the current directory)")
    _common(parser)
    parser.add_argument("--run-tests", action="store_true", help="also run the project's pytest suite and validate.py")
    parser.add_argument("--test-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="time limit for each of --run-tests' runs (default: 600)")


def _load_options(parser: argparse.ArgumentParser, always: bool = False) -> None:
    group = parser.add_argument_group("load proof" if always else "load proof (--load)")
    if not always:
        group.add_argument("--load", action="store_true",
                           help="prove the archive loads: install its requirements in a clean environment, load the "
                                "backend as Packflow does and run check_io on sample_inputs.json")
    group.add_argument("--index-url", metavar="URL", help="package index for the clean environment")
    group.add_argument("--find-links", action="append", default=[], type=Path, metavar="DIR",
                       help="also install from the wheels in DIR (repeatable)")
    group.add_argument("--offline", action="store_true", help="use no index: only --find-links (air-gapped pipelines)")
    group.add_argument("--no-cache", action="store_true", help="build a fresh environment and delete it afterwards")
    group.add_argument("--load-timeout", type=float, default=600.0, metavar="SECONDS",
                       help="time limit for installing, and for loading and running (default: 600)")


def make_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="python -m packflow_export", epilog=EPILOG, formatter_class=formatter,
                     description="Check that a Packflow project is ready for distribution, and export it as a "
                                 "verified archive.")
    parser.add_argument("-V", "--version", action="version", version=f"packflow_export {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser("check", help="report what blocks a release (default: the current directory)",
                                epilog=EPILOG, formatter_class=formatter)
    _project_options(check)

    export = commands.add_parser("export", help="check, then write {name}-{version}.zip and its .sha256 (the default)",
                                 epilog=EPILOG, formatter_class=formatter)
    _project_options(export)
    export.add_argument("-o", "--output-dir", type=Path, default=Path("."), metavar="DIR",
                        help="where to write the archive, created when missing (default: the current directory)")
    export.add_argument("--force", action="store_true", help="overwrite an existing archive of the same name")
    export.add_argument("--dry-run", action="store_true", help="list what would be packed; write nothing")
    export.add_argument("--sbom", action="store_true", help="also write <archive>.cdx.json, a CycloneDX 1.6 SBOM")
    _load_options(export)

    release = commands.add_parser(
        "release", epilog=EPILOG, formatter_class=formatter,
        help="the release: refuse unless TAG is v<version> on a clean tagged HEAD; check with the tests, write the "
             "archive, .sha256 and SBOM, prove the archive loads")
    release.add_argument("project", nargs="?", default=Path("."), type=Path, metavar="PROJECT_PATH",
                         help="the Packflow project folder (default: the current directory)")
    release.add_argument("--tag", required=True, help='the tag being released, e.g. "$GITHUB_REF_NAME" or "$CI_COMMIT_TAG"')
    _common(release)
    release.add_argument("-o", "--output-dir", type=Path, default=Path("dist"), metavar="DIR",
                         help="where to write the release files, created when missing (default: dist)")
    release.add_argument("--force", action="store_true", help="overwrite an existing archive of the same name")
    _load_options(release, always=True)

    bump = commands.add_parser("bump", epilog=EPILOG, formatter_class=formatter,
                               help="move packflow.yaml and MODEL_CARD.md to a new version; print the git commands")
    bump.add_argument("version", metavar="VERSION", help="the new version (PEP 440, greater than the current one)")
    bump.add_argument("project", nargs="?", default=Path("."), type=Path, metavar="PROJECT_PATH",
                      help="the Packflow project folder (default: the current directory)")
    bump.add_argument("--date", metavar="YYYY-MM-DD", help="the release date for MODEL_CARD.md (default: today, UTC)")
    bump.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")

    verify = commands.add_parser("verify", help="check an archive: its records, every member, the readiness rules",
                                 epilog=EPILOG, formatter_class=formatter)
    verify.add_argument("archive", type=Path, metavar="ARCHIVE")
    _common(verify)
    verify.add_argument("--max-size", type=_size, default=64 << 30, metavar="SIZE",
                        help="refuse archives whose members declare more than this in all (default: 64G)")
    verify.add_argument("--run-tests", action="store_true", help="with --load, also run the project's tests there")
    _load_options(verify)

    rules = commands.add_parser("rules", help="list the rules, or explain one: what it checks, why, how to fix it",
                                formatter_class=formatter)
    rules.add_argument("code", nargs="?", metavar="CODE")
    rules.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
    rules.add_argument("--markdown", action="store_true", help="print the README's table of codes")
    return parser


def resolve_project(path: Path) -> Path:
    """The project folder, or NotAProject (exit 2) saying why it is not one."""
    if not path.exists():
        raise NotAProject(f"{path}: no such directory")
    if not path.is_dir():
        raise NotAProject(f"{path}: not a directory; give the project folder")
    if not (path / "packflow.yaml").exists() and not (path / "packflow.yaml").is_symlink():
        raise NotAProject(f"{path}: not a Packflow project (no packflow.yaml); create one with cookiecutter")
    return path.resolve()


def _load(args):
    """LoadOptions from the command line, or None without --load (release always proves the load)."""
    if not getattr(args, "load", True):
        for option in ("index_url", "find_links", "offline", "no_cache"):
            if getattr(args, option):
                raise UsageError(f"--{option.replace('_', '-')} only applies with --load")
        return None
    from .load import LoadOptions

    for folder in args.find_links:
        if not folder.is_dir():
            raise UsageError(f"--find-links {folder}: no such folder")
    return LoadOptions(args.index_url, tuple(args.find_links), args.offline, not args.no_cache, args.load_timeout,
                       getattr(args, "run_tests", False))


def _options(args):
    from .rules import Options

    return Options(frozenset(args.allow_secret), getattr(args, "run_tests", False), getattr(args, "test_timeout", 600.0))


def _respond(args, report, data, print_text) -> int:
    """Print the result as JSON or text, and exit on the report's verdict."""
    from .output import print_json

    if args.json:
        print_json(data)
    else:
        print_text(verbose=args.verbose, quiet=args.quiet)
    return EXIT_OK if report.ok else EXIT_BLOCKED


def run_check(args) -> int:
    from functools import partial

    from . import output
    from .policy import load_policy
    from .rules import inspect_project

    project = resolve_project(args.project)
    report = inspect_project(project, load_policy(args.policy), strict=args.strict, options=_options(args)).report
    return _respond(args, report, output.check_json(report), partial(output.print_report, report))


def run_export(args) -> int:
    from functools import partial

    from . import output
    from .exporter import export_project
    from .policy import load_policy

    project = resolve_project(args.project)
    policy = load_policy(args.policy)
    bar = output.Progress() if sys.stderr.isatty() and not (args.json or args.quiet) else None
    try:
        outcome = export_project(project, policy, args.output_dir, strict=args.strict, options=_options(args),
                                 force=args.force, dry_run=args.dry_run, progress=bar.start if bar else None,
                                 load=_load(args), sbom=args.sbom)
    finally:
        if bar:
            bar.close()
    return _respond(args, outcome.report, output.export_json(outcome), partial(output.print_export, outcome))


def run_verify(args) -> int:
    from functools import partial

    from . import output
    from .verify import verify_archive

    if not args.archive.is_file():
        raise UsageError(f"{args.archive}: no such archive")
    if args.policy is not None:
        from .policy import load_policy

        load_policy(args.policy)  # a bad policy file is a usage error before any work
    verification = verify_archive(args.archive, policy_path=args.policy, allowed_secrets=frozenset(args.allow_secret),
                                  strict=args.strict, max_size=args.max_size, load=_load(args))
    return _respond(args, verification.report, output.verify_json(verification),
                    partial(output.print_verify, verification))


def run_release(args) -> int:
    from functools import partial

    from . import output
    from .policy import load_policy
    from .release import release_project

    project = resolve_project(args.project)
    policy = load_policy(args.policy)
    outcome = release_project(project, policy, args.tag, args.output_dir, _load(args), strict=args.strict,
                              force=args.force, allowed_secrets=frozenset(args.allow_secret))
    return _respond(args, outcome.report, output.export_json(outcome), partial(output.print_export, outcome))


def run_bump(args) -> int:
    from . import output
    from .release import bump_version

    project = resolve_project(args.project)
    bumped = bump_version(project, args.version, args.date)
    if args.json:
        output.print_json({"ok": True, "old": bumped.old, "new": bumped.new,
                           "changed": [{"file": name, "lines": lines} for name, lines in bumped.changed],
                           "commands": bumped.commands})
    else:
        output.print_bump(bumped)
    return EXIT_OK


def run_rules(args) -> int:
    from . import output
    from .findings import all_rules

    rules = all_rules()
    if args.code and args.code.upper() not in rules:
        raise UsageError(f"no rule {args.code!r}; `python -m packflow_export rules` lists them")
    chosen = [rules[args.code.upper()]] if args.code else list(rules.values())
    if args.json:
        output.print_json({"ok": True, "rules": [rule._asdict() for rule in chosen]})
    elif args.markdown:
        print("| code | default | what it means | how to fix |\n|---|---|---|---|")
        for rule in chosen:
            print(f"| {rule.code} | {rule.severity} | {rule.summary} | {rule.fix} |")
    elif args.code:
        rule = chosen[0]
        print(f"{rule.code} ({rule.severity}): {rule.summary}\n\nWhy: {rule.why}\n\nFix: {rule.fix}")
    else:
        for rule in chosen:
            print(f"{rule.code}  {rule.severity:<7}  {rule.summary}")
    return EXIT_OK


HANDLERS = {"check": run_check, "export": run_export, "verify": run_verify, "release": run_release, "bump": run_bump,
            "rules": run_rules}


def _error(message: str, code: int, as_json: bool) -> int:
    """The one place a failure becomes output: one line on stderr, or one JSON object on stdout."""
    if as_json:
        from .output import error_json, print_json

        print_json(error_json(code, message))
    print(f"packflow_export: error: {message}", file=sys.stderr)
    return code


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: Optional[Sequence[str]] = None) -> int:
    import signal

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "-V", "--version")):
        argv.insert(0, "export")
    as_json = "--json" in argv
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        args = make_parser().parse_args(argv)
        return HANDLERS[args.command](args)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except PackflowExportError as exc:
        return _error(str(exc), exc.exit_code, as_json)
    except KeyboardInterrupt as exc:
        from .archive import InterruptedAfterCommit

        cause = exc.signal_exception if isinstance(exc, InterruptedAfterCommit) else exc
        code = EXIT_TERMINATED if isinstance(cause, Terminated) else EXIT_INTERRUPTED
        what = "terminated" if code == EXIT_TERMINATED else "interrupted"
        if isinstance(exc, InterruptedAfterCommit):
            message = f"{what} after {exc.result.path} and its .sha256 were written; both are complete"
        elif argv[0] == "export":
            message = f"{what}; nothing was left under the archive's name"
        else:
            message = what
        return _error(message, code, as_json)
    except Exception as exc:  # noqa: BLE001 - last resort: a bug gets one line, the traceback on request
        if os.environ.get("PACKFLOW_EXPORT_DEBUG"):
            raise
        return _error(f"internal error: {type(exc).__name__}: {exc} (set PACKFLOW_EXPORT_DEBUG=1 for details)",
                      EXIT_INTERNAL, as_json)
    finally:
        signal.signal(signal.SIGTERM, previous)


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
