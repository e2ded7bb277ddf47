"""The `loyalty` command: serve, migrate, token, demo, campaign (watch, list), audit.

Each command lives in a module of this package and never imports this one; this
module only puts them together. To add a command, write it in its own module (a
function for a single command, a `typer.Typer()` for a group of them, as in
`campaigns.py`) and register it below with one line.
"""

from __future__ import annotations

import sys

import typer

from gateway.cli import audit, campaigns, migrations, server, tokens
from gateway.cli.exits import EPILOG, CommandError, ExitCode

app = typer.Typer(
    name="loyalty",
    help="The loyalty gateway.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command(epilog=EPILOG)(server.demo)
app.command(epilog=EPILOG)(server.serve)
app.command(epilog=EPILOG)(migrations.migrate)
app.command(epilog=EPILOG)(tokens.token)
app.add_typer(campaigns.app, name="campaign")
app.command(epilog=EPILOG)(audit.audit)


def main(argv: list[str] | None = None) -> int:
    """Run `loyalty` with these arguments (default: the command line); the exit code.

    Errors are printed plainly to stderr, without traceback, for scripts and logs.
    """
    try:
        result = app(args=argv, prog_name="loyalty", standalone_mode=False)
    except CommandError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.code
    except typer.TyperException as error:  # a usage error: the usage line, a hint, the error
        show = getattr(error, "show", None)
        if type(error).__name__ == "NoArgsIsHelpError":
            pass  # Typer has printed the help already
        elif show is None:
            print(f"Error: {error.format_message()}", file=sys.stderr)
        else:
            show()
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return result if isinstance(result, int) else ExitCode.OK
