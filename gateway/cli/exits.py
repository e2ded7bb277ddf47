"""The exit codes of every `loyalty` command, and the error a command raises to stop with one."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a script can rely on (README, "Exit codes")."""

    OK = 0
    FAILED = 1  # the work failed (database unreachable, campaign CANCELLED, `audit` found a broken invariant)
    USAGE = 2  # bad options, or configuration the command needs is missing (Click's code for usage errors)
    NOT_FOUND = 3  # no such thing (an unknown campaign id)
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


# Shown under every `--help`. Paragraphs, because Typer's rich help joins single lines.
EPILOG = (
    "Exit codes: 0 ok; 1 the work failed (database unreachable, a watched campaign ended CANCELLED,"
    " the audit found a broken invariant);\n\n"
    "2 bad usage or missing configuration (e.g. LOYALTY_JWT_SECRET); 3 not found (unknown campaign id);\n\n"
    "130 interrupted."
)


class CommandError(Exception):
    """A command cannot do what was asked; the message says why and what to do.

    `gateway.cli.main` prints it (no traceback) and exits with its code.
    """

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code
