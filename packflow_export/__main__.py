"""Command line: `python -m packflow_export [check|export|verify|release|bump|hook|rules|lock|audit] ...`.

A parser factory (each subcommand owns its options), one reporter chosen once by --format, and one place that maps
failures to exit codes; the work is in the library modules, the printing in output/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, NoReturn, Optional, Sequence

from . import __version__
from .errors import (EXIT_BLOCKED, EXIT_BROKEN_PIPE, EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK,
                     EXIT_TERMINATED, NotAProject, PackflowExportError, Terminated, UsageError)

if TYPE_CHECKING:
    from types import FrameType

    from .model.options import LoadOptions, RunOptions
    from .output import Reporter
    from .results import (AuditResult, BumpResult, CheckResult, ExportResult, LockCommandResult, ReleaseResult, Result,
                          RulesResult, VerifyResult)

EPILOG = EXIT_CODES_HELP + "\nWith no command, `export` runs: python -m packflow_export [PROJECT_PATH]."
FORMATS = ("text", "json", "sarif")
FORMATTER = argparse.RawDescriptionHelpFormatter


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so --json can answer usage errors too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _size(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    number, unit = text.rstrip("bBiI"), ""
    if number and number[-1].lower() in units:
        number, unit = number[:-1], number[-1].lower()
    try:
        size = int(float(number) * units[unit])
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 64G or 500M") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive size such as 64G or 500M")
    return size


def _seconds(text: str) -> float:
    """A time limit: a positive, finite number of seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds such as 600") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds such as 600")
    return value


# Options shared by several subcommands -----------------------------------------------------------------------------

def _format_options(parser: argparse.ArgumentParser, formats: Sequence[str] = FORMATS) -> None:
    parser.add_argument("--format", choices=formats, default="text",
                        help="what to print on stdout: " + ", ".join(formats) + " (default: text)")
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")


def _report_options(parser: argparse.ArgumentParser) -> None:
    _format_options(parser)
    parser.add_argument("--strict", action="store_true", help="warnings block too")
    parser.add_argument("--policy", type=Path, metavar="FILE",
                        help="readiness policy to use instead of the bundled one")
    parser.add_argument("--allow-secret", action="append", default=[], metavar="PATH",
                        help="accept this file although it looks like a secret (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every finding (repeats are grouped otherwise)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only what blocks")


def _project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=Path("."), type=Path, metavar="PROJECT_PATH",
                        help="the Packflow project folder (default: the current directory)")


def _test_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-tests", action="store_true", help="also run the project's pytest suite and validate.py")
    parser.add_argument("--test-timeout", type=_seconds, default=600.0, metavar="SECONDS",
                        help="time limit for each of --run-tests' runs (default: 600)")


def _output_options(parser: argparse.ArgumentParser, default: Path, what: str) -> None:
    parser.add_argument("-o", "--output-dir", type=Path, default=default, metavar="DIR",
                        help=f"where to write {what}, created when missing (default: {default})")
    parser.add_argument("--force", action="store_true", help="overwrite an existing archive of the same name")


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
    group.add_argument("--load-timeout", type=_seconds, default=600.0, metavar="SECONDS",
                       help="time limit for installing, and for loading and running (default: 600)")
    _sandbox_option(group)


def _sandbox_option(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--sandbox", choices=("auto", "require", "off"), default="auto",
                       help="run the archive's code under bubblewrap: auto (default) when it works here, else "
                            "unsandboxed with a warning; require: refuse without it (exit 2), the setting for "
                            "archives from others; off: never")


# Each subcommand: its options, and the function that runs it -------------------------------------------------------

def _check_parser(parser: argparse.ArgumentParser) -> None:
    _project_argument(parser)
    _report_options(parser)
    _test_options(parser)
    _advisory_source_options(parser, "audit the pinned requirements against it (default: $PACKFLOW_EXPORT_OSV_DB / "
                                     "$PACKFLOW_EXPORT_OSV_URL when set; else no audit, no network)")


def _export_parser(parser: argparse.ArgumentParser) -> None:
    _check_parser(parser)
    _output_options(parser, Path("."), "the archive")
    parser.add_argument("--dry-run", action="store_true", help="list what would be packed; write nothing")
    parser.add_argument("--sbom", action="store_true", help="also write <archive>.cdx.json, a CycloneDX 1.6 SBOM")
    _load_options(parser)


def _release_parser(parser: argparse.ArgumentParser) -> None:
    _project_argument(parser)
    parser.add_argument("--tag", required=True,
                        help='the tag being released, e.g. "$GITHUB_REF_NAME" or "$CI_COMMIT_TAG"')
    _report_options(parser)
    _output_options(parser, Path("dist"), "the release files")
    _load_options(parser, always=True)


def _bump_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", metavar="VERSION", help="the new version (PEP 440, greater than the current one)")
    _project_argument(parser)
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the release date for MODEL_CARD.md (default: today, UTC)")
    _format_options(parser, ("text", "json"))


def _verify_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", type=Path, metavar="ARCHIVE")
    _report_options(parser)
    parser.add_argument("--max-size", type=_size, default=64 << 30, metavar="SIZE",
                        help="refuse archives whose members declare more than this in all (default: 64G)")
    parser.add_argument("--run-tests", action="store_true", help="with --load, also run the project's tests there")
    _load_options(parser)
    _verify_trust_options(parser)
    _model_file_options(parser)


def _verify_trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accept-recorded-policy", action="store_true",
                        help="apply the policy and --allow-secret exceptions the archive records (default: shown, "
                             "not applied); the rules that keep an archive intact and model files from running code "
                             "(PF820-PF823) stay at your policy's level, and its model_allowlist is never applied")


def _model_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--load-unsafe-model-files", action="store_true",
                        help="with --load, load even when a model file would run code (PF826); recorded as PF827")


def _hook_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=str, metavar="FILE",
                        help="the files being committed, relative to the current directory (pre-commit passes them)")
    parser.add_argument("--project", type=Path, default=Path("."), metavar="PROJECT_PATH",
                        help="the Packflow project folder (default: the current directory, the repository root)")
    _report_options(parser)


def _rules_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", nargs="?", metavar="CODE")
    _format_options(parser, ("text", "json"))
    parser.add_argument("--markdown", action="store_true", help="print the README's table of codes")


def resolve_project(path: Path) -> Path:
    """The project folder, or NotAProject (exit 2) saying why it is not one."""
    if not path.exists():
        raise NotAProject(f"{path}: no such directory")
    if not path.is_dir():
        raise NotAProject(f"{path}: not a directory; give the project folder")
    if not (path / "packflow.yaml").exists() and not (path / "packflow.yaml").is_symlink():
        raise NotAProject(f"{path}: not a Packflow project (no packflow.yaml); create one with cookiecutter")
    return path.resolve()


def _load(args: argparse.Namespace) -> Optional[LoadOptions]:
    """The load proof's options with --load, else None (and its options refused)."""
    if args.load:
        return _proof(args)
    for option in ("index_url", "find_links", "offline", "no_cache", "load_unsafe_model_files"):
        if getattr(args, option, None):
            raise UsageError(f"--{option.replace('_', '-')} only applies with --load")
    return None


def _proof(args: argparse.Namespace) -> LoadOptions:
    """The load proof's options from the command line."""
    from .model.options import LoadOptions

    for folder in args.find_links:
        if not folder.is_dir():
            raise UsageError(f"--find-links {folder}: no such folder")
    from .load import choose

    options = LoadOptions(args.index_url, tuple(args.find_links), args.offline, not args.no_cache, args.load_timeout,
                          getattr(args, "run_tests", False), args.sandbox,
                          getattr(args, "load_unsafe_model_files", False))
    choose(options)  # --sandbox require without a working bubblewrap: exit 2 before any work
    return options


def _run_options(args: argparse.Namespace, load: Optional[LoadOptions] = None) -> RunOptions:
    from .model.options import RunOptions

    return RunOptions(args.strict, frozenset(args.allow_secret), getattr(args, "run_tests", False),
                      getattr(args, "test_timeout", 600.0), load, getattr(args, "db", None),
                      getattr(args, "osv_url", None))


def run_check(args: argparse.Namespace) -> CheckResult:
    from .check import check_project
    from .model.context import ProjectContext
    from .policy import load_policy

    project = resolve_project(args.project)
    return check_project(ProjectContext(project, load_policy(args.policy), _run_options(args)))


def run_hook(args: argparse.Namespace) -> CheckResult:
    from .check import check_commit
    from .model.context import ProjectContext
    from .model.options import RunOptions
    from .policy import load_policy

    try:
        project = resolve_project(args.project)
    except NotAProject as exc:
        raise NotAProject(f"{exc} (a project in a subfolder of the repository: args: [--project, path/to/project] "
                          f"under the hook in .pre-commit-config.yaml)") from None
    options = RunOptions(args.strict, frozenset(args.allow_secret), committed=tuple(args.files))
    return check_commit(ProjectContext(project, load_policy(args.policy), options))


def run_export(args: argparse.Namespace) -> ExportResult:
    from .exporter import export_project
    from .heap import reuse_buffers
    from .model.context import ProjectContext
    from .output.progress import Progress
    from .policy import load_policy

    reuse_buffers()
    project = resolve_project(args.project)
    ctx = ProjectContext(project, load_policy(args.policy), _run_options(args, _load(args)))
    bar = Progress() if sys.stderr.isatty() and args.format == "text" and not args.quiet else None
    try:
        return export_project(ctx, args.output_dir, force=args.force, dry_run=args.dry_run,
                              progress=bar.start if bar else None, sbom=args.sbom)
    finally:
        if bar:
            bar.close()


def run_verify(args: argparse.Namespace) -> VerifyResult:
    from .heap import reuse_buffers
    from .verify import verify_archive

    reuse_buffers()
    if not args.archive.is_file():
        raise UsageError(f"{args.archive}: no such archive")
    if args.policy is not None:
        from .policy import load_policy

        load_policy(args.policy)  # a bad policy file is a usage error before any work
    return verify_archive(args.archive, policy_path=args.policy, allowed_secrets=frozenset(args.allow_secret),
                          strict=args.strict, max_size=args.max_size, load=_load(args),
                          accept_recorded_policy=args.accept_recorded_policy)


def run_release(args: argparse.Namespace) -> ReleaseResult:
    from .policy import load_policy
    from .release import release_project

    project = resolve_project(args.project)
    policy = load_policy(args.policy)
    return release_project(project, policy, args.tag, args.output_dir, _proof(args), strict=args.strict,
                           force=args.force, allowed_secrets=frozenset(args.allow_secret))


def run_bump(args: argparse.Namespace) -> BumpResult:
    from .release import bump_version

    return bump_version(resolve_project(args.project), args.version, args.date)


def run_rules(args: argparse.Namespace) -> RulesResult:
    from .results import RulesResult, Status
    from .rules import registry

    rules = registry().rules
    if args.code and args.code.upper() not in rules:
        raise UsageError(f"no rule {args.code!r}; `python -m packflow_export rules` lists them")
    chosen = (rules[args.code.upper()],) if args.code else tuple(rules.values())
    return RulesResult(Status.LISTED_RULES, chosen, explain=bool(args.code), markdown=args.markdown)


# lock and audit: the dependency commands (audit_command.py) -------------------------------------------------------

def _advisory_source_options(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("advisory source")
    group.add_argument("--db", type=Path, metavar="PATH",
                       help=f"OSV's PyPI advisories, offline: its all.zip or a folder of OSV .json files; {what}")
    group.add_argument("--osv-url", metavar="URL", help="OSV's API or a mirror of it, e.g. https://api.osv.dev")


def _lock_parser(parser: argparse.ArgumentParser) -> None:
    _project_argument(parser)
    parser.add_argument("--python-version", metavar="X.Y", help="lock for this Python (default: packflow.yaml's)")
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions, not the locked ones")
    parser.add_argument("--index-url", metavar="URL", help="package index to resolve from")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR",
                        help="also resolve from the wheels in DIR (repeatable)")
    parser.add_argument("--offline", action="store_true", help="use no index: only --find-links (a wheelhouse)")
    _format_options(parser, ("text", "json"))


def _audit_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, default=[Path(".")], metavar="PROJECT|ARCHIVE",
                        help="project folders and .zip archives to audit (default: the current directory)")
    _advisory_source_options(parser, "else $PACKFLOW_EXPORT_OSV_DB, $PACKFLOW_EXPORT_OSV_URL, then api.osv.dev")
    _format_options(parser)
    parser.add_argument("--policy", type=Path, metavar="FILE", help="policy to use instead of the bundled one")
    parser.add_argument("--strict", action="store_true", help="warnings block too (e.g. a requirement not pinned)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only what blocks")
    alerts = parser.add_argument_group("alerts")
    alerts.add_argument("--notify", metavar="smtp://HOST:PORT",
                        help="email each affected project's packflow.yaml maintainers (one message per project)")
    alerts.add_argument("--smtp-from", default="packflow-export@localhost", metavar="ADDRESS", help="the sender")
    alerts.add_argument("--smtp-user", metavar="NAME", help="log in as NAME (the password from --smtp-password-env)")
    alerts.add_argument("--smtp-password-env", default="PACKFLOW_SMTP_PASSWORD", metavar="VAR",
                        help="the environment variable holding the SMTP password (default: PACKFLOW_SMTP_PASSWORD)")
    alerts.add_argument("--starttls", action="store_true", default=None, help="upgrade the connection with STARTTLS")
    alerts.add_argument("--open-issue", choices=("github", "gitlab"),
                        help="open (or update) one issue listing the advisories, with the CI's variables")
    alerts.add_argument("--dry-run", action="store_true", help="print the emails that would be sent; send nothing")


def run_lock(args: argparse.Namespace) -> LockCommandResult:
    from .audit_command import lock_project

    return lock_project(resolve_project(args.project), args.python_version, index_url=args.index_url,
                        find_links=args.find_links, offline=args.offline, upgrade=args.upgrade)


def run_audit(args: argparse.Namespace) -> AuditResult:
    from .audit_command import Alerting, audit_paths
    from .policy import load_policy

    if args.notify:
        from .deps.notify import NotifyError, parse_smtp_url

        try:
            parse_smtp_url(args.notify)
        except NotifyError as exc:
            raise UsageError(str(exc)) from None
    alerting = Alerting(args.notify, args.smtp_from, args.smtp_user, args.smtp_password_env, args.starttls,
                        args.open_issue, args.dry_run)
    return audit_paths(args.paths, load_policy(args.policy), db=args.db, osv_url=args.osv_url, strict=args.strict,
                       alerting=alerting)


class Subcommand(NamedTuple):
    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Result]


SUBCOMMANDS = {
    "check": Subcommand("report what blocks a release (default: the current directory)", _check_parser, run_check),
    "export": Subcommand("check, then write {name}-{version}.zip and its .sha256 (the default)", _export_parser,
                         run_export),
    "verify": Subcommand("check an archive: its records, every member, the readiness rules", _verify_parser,
                         run_verify),
    "release": Subcommand("the release: refuse unless TAG is v<version> on a clean tagged HEAD; check with the tests, "
                          "write the archive, .sha256 and SBOM, prove the archive loads", _release_parser, run_release),
    "bump": Subcommand("move packflow.yaml and MODEL_CARD.md to a new version; print the git commands", _bump_parser,
                       run_bump),
    "hook": Subcommand("the pre-commit hook: the commit-time rules, and the secret scan over the FILEs being committed",
                       _hook_options, run_hook),
    "rules": Subcommand("list the rules, or explain one: what it checks, why, how to fix it", _rules_parser, run_rules),
    "lock": Subcommand("compile requirements.in into requirements.txt with every pin and its hashes (uv)", _lock_parser,
                       run_lock),
    "audit": Subcommand("match the pinned requirements of projects and archives against OSV advisories; alert the "
                        "maintainers", _audit_parser, run_audit),
}
COMMANDS = tuple(SUBCOMMANDS)


def make_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand, each with its own options."""
    parser = _Parser(prog="python -m packflow_export", epilog=EPILOG, formatter_class=FORMATTER,
                     description="Check that a Packflow project is ready for distribution, and export it as a "
                                 "verified archive.")
    parser.add_argument("-V", "--version", action="version", version=f"packflow_export {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, subcommand in SUBCOMMANDS.items():
        epilog = None if name == "rules" else EPILOG
        subcommand.options(commands.add_parser(name, help=subcommand.help, epilog=epilog, formatter_class=FORMATTER))
    return parser


def with_command(argv: list[str]) -> list[str]:
    """The arguments with their command: `export` when none is given (options first, or a project path), a usage
    error naming the closest command for a word that is neither a command nor an existing path."""
    if not argv:
        return ["export"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("-h", "--help", "-V", "--version"):
        return argv
    if first.startswith("-") or Path(first).exists():
        return ["export", *argv]
    import difflib

    close = difflib.get_close_matches(first, COMMANDS, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown command {first!r}{guess} (commands: {', '.join(COMMANDS)}; with no command, export "
                     f"runs on the PROJECT_PATH given, which must exist)")


def _format_of(argv: Sequence[str]) -> str:
    """The output format asked for, read before parsing so that even a usage error answers in it."""
    chosen = "text"
    for index, arg in enumerate(argv):
        if arg == "--json":
            chosen = "json"
        elif arg == "--format" and index + 1 < len(argv) and argv[index + 1] in FORMATS:
            chosen = argv[index + 1]
        elif arg.startswith("--format=") and arg.partition("=")[2] in FORMATS:
            chosen = arg.partition("=")[2]
    return chosen


def _reporter(format_name: str, args: Optional[argparse.Namespace] = None) -> Reporter:
    from .output import Format, reporter_for

    return reporter_for(Format(format_name), verbose=bool(getattr(args, "verbose", False)),
                        quiet=bool(getattr(args, "quiet", False)))


def _error(message: str, code: int, format_name: str) -> int:
    """The one place a failure becomes output: one line on stderr, and for JSON or SARIF one document on stdout."""
    try:
        if format_name != "text":
            _reporter(format_name).error(code, message)
            sys.stdout.flush()
        print(f"packflow_export: error: {message}", file=sys.stderr)
    except BrokenPipeError:
        return _reader_gone()
    return code


def _reader_gone() -> int:
    """The output's reader went away (`| head`): stop quietly; later writes and the exit's flush go nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _raise_terminated(signum: int, frame: Optional[FrameType]) -> None:
    raise Terminated()


def _interrupted(exc: KeyboardInterrupt, command: str) -> tuple[str, int]:
    """What an interrupt (Ctrl-C, or SIGTERM raised as one) left behind, and its exit code."""
    from .archive.writer import InterruptedAfterCommit

    cause = exc.signal_exception if isinstance(exc, InterruptedAfterCommit) else exc
    code = EXIT_TERMINATED if isinstance(cause, Terminated) else EXIT_INTERRUPTED
    what = "terminated" if code == EXIT_TERMINATED else "interrupted"
    if isinstance(exc, InterruptedAfterCommit):
        return f"{what} after {exc.result.path} and its .sha256 were written; both are complete", code
    if command == "export":
        return f"{what}; nothing was left under the archive's name", code
    return what, code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; the exit code says how it went (see EXIT_CODES_HELP)."""
    import signal

    arguments = list(sys.argv[1:] if argv is None else argv)
    format_name = _format_of(arguments)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    command = ""
    try:
        arguments = with_command(arguments)
        command = arguments[0]
        args = make_parser().parse_args(arguments)
        format_name = args.format
        result = SUBCOMMANDS[args.command].run(args)
        _reporter(format_name, args).render(result)
        sys.stdout.flush()  # a reader gone shows here, not in the interpreter's last flush
        return EXIT_OK if result.ok else EXIT_BLOCKED
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except BrokenPipeError:
        return _reader_gone()
    except PackflowExportError as exc:
        return _error(str(exc), exc.exit_code, format_name)
    except KeyboardInterrupt as exc:
        return _error(*_interrupted(exc, command), format_name)
    except Exception as exc:  # noqa: BLE001 - last resort: a bug gets one line, the traceback on request
        if os.environ.get("PACKFLOW_EXPORT_DEBUG"):
            raise
        return _error(f"internal error: {type(exc).__name__}: {exc} (set PACKFLOW_EXPORT_DEBUG=1 for details)",
                      EXIT_INTERNAL, format_name)
    finally:
        signal.signal(signal.SIGTERM, previous)


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
