"""Failures that end a command, each carrying its exit code; __main__ maps them to exits in one place.

Findings are not errors: a report with blocking findings ends the command with EXIT_BLOCKED through the
report, not through an exception.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_CANNOT_WRITE = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader went away

EXIT_CODES_HELP = (
    "exit codes: 0 ready/written/verified; 1 blocked by findings (or a bad archive, or a refused release);\n"
    "2 usage error or not a Packflow project; 3 cannot write the output; 4 a service cannot be used (the advisory\n"
    "database or OSV API, an SMTP server, an issue tracker); 70 internal error (a bug: please report it);\n"
    "130 interrupted (143 on SIGTERM); 141 the output's reader went away (e.g. `| head`), quietly.")


class PackflowExportError(Exception):
    """A failure with a one-line message; subclasses say which exit code it means."""

    exit_code = EXIT_INTERNAL


class UsageError(PackflowExportError):
    """Bad input from the command line, the policy file or the environment (exit 2)."""

    exit_code = EXIT_USAGE


class NotAProject(UsageError):
    """The path is not a Packflow project folder (exit 2)."""


class CannotWrite(PackflowExportError):
    """The output cannot be written: exists without --force, not a folder, unwritable, disk full (exit 3)."""

    exit_code = EXIT_CANNOT_WRITE


class Refused(PackflowExportError):
    """A command declined to act on valid input: a release whose tag or tree is wrong, a bump backwards (exit 1)."""

    exit_code = EXIT_BLOCKED


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup on the way out runs."""
