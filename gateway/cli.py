"""The `loyalty` command: serve, migrate, token, demo, campaign (watch, list).

Each subcommand is a pair of small functions: `_add_<name>(subparsers)` declares its
arguments and `<name>(args) -> exit code` runs it. To add one, write both and list
the first in `SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway import db
from gateway.auth import issue
from gateway.campaign_cli import add_campaign
from gateway.commands import CommandError, check_sqlite_folder, with_database
from gateway.settings import Settings
from loyalty.access import Role

APP = "gateway.app:app"
DEMO_DATABASE = "loyalty-demo.sqlite3"


def _settings() -> Settings:
    return Settings()


def _require_secret(settings: Settings, command: str) -> str:
    if not settings.jwt_secret:
        raise CommandError(
            f"LOYALTY_JWT_SECRET is not set; `loyalty {command}` needs the secret that signs tokens.\n"
            "  Set it, e.g.: export LOYALTY_JWT_SECRET="
            "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
            "  (or try `loyalty demo`, which makes one up for its session)"
        )
    return settings.jwt_secret


def redact(url: str) -> str:
    """The database URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------------------- serve


def _add_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the GraphQL API with uvicorn",
        description="Serve gateway.app:app with uvicorn. Reads DATABASE_URL, REDIS_URL, LOYALTY_PLUGINS and "
        "LOYALTY_JWT_SECRET (required). Does not migrate: run `loyalty migrate` first.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (development only)")
    parser.set_defaults(run=serve)


def _uvicorn(host: str, port: int, reload: bool = False) -> None:
    import uvicorn

    from gateway import logs

    # JSON lines from the first one: uvicorn is told to leave logging alone, and its
    # access log (client addresses) gives way to the gateway's "request done" line.
    logs.configure(_settings().log_level)
    uvicorn.run(APP, host=host, port=port, reload=reload, log_config=None, access_log=False)


def serve(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_secret(settings, "serve")
    check_sqlite_folder(settings.database_url)
    _uvicorn(args.host, args.port, reload=args.reload)
    return 0


# ---------------------------------------------------------------------------- migrate


def _add_migrate(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply the checked-in migrations to DATABASE_URL",
        description="Apply every migration in loyalty/migrations that the database lacks, and print them.",
    )
    parser.add_argument("--database-url", help="database to migrate (default: DATABASE_URL)")
    parser.set_defaults(run=migrate)


async def apply_migrations(database_url: str, out: Callable[[str], None] = print) -> list[str]:
    """Apply the missing migrations; the names applied, each also passed to `out`."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate as run_migrations

    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            out(f"  applied {app_label}.{name}")

    try:
        await run_migrations(config=db.tortoise_config(database_url), progress=progress)
    finally:
        await Tortoise.close_connections()
    return applied


def migrate(args: argparse.Namespace) -> int:
    from asyncpg import InvalidAuthorizationSpecificationError, InvalidCatalogNameError

    url = args.database_url or _settings().database_url
    check_sqlite_folder(url)
    print(f"Migrating {redact(db.normalise_url(url))}")
    try:
        applied = asyncio.run(apply_migrations(url))
    except (OSError, InvalidAuthorizationSpecificationError, InvalidCatalogNameError) as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    if applied:
        print(f"Done: {len(applied)} migration(s) applied.")
    else:
        print("Nothing to apply: the database is up to date.")
    return 0


# ---------------------------------------------------------------------------- token


def _add_token(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "token",
        help="print a signed token (needs LOYALTY_JWT_SECRET)",
        description="Print an HS256 token signed with LOYALTY_JWT_SECRET (contract/README.md, Tokens).",
    )
    parser.add_argument("--role", required=True, choices=[role.value for role in Role])
    parser.add_argument("--sub", required=True, help="customer id (participant) or client name")
    parser.add_argument("--partner", help="partner id (required for --role partner)")
    parser.add_argument("--email")
    parser.add_argument("--email-verified", action="store_true")
    parser.add_argument("--phone", help="phone number (the phone_number claim)")
    parser.add_argument("--phone-verified", action="store_true")
    parser.add_argument("--ttl-hours", type=float, default=12.0, help="lifetime in hours (default 12)")
    parser.set_defaults(run=token)


def make_token(
    secret: str,
    role: Role,
    sub: str,
    *,
    partner: str | None = None,
    email: str | None = None,
    email_verified: bool = False,
    phone: str | None = None,
    phone_verified: bool = False,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A token with the contract's claims; only the claims given are set."""
    if role is Role.PARTNER and not partner:
        raise CommandError("a partner token needs --partner (the program owner's id in plugins.toml)")
    if ttl <= timedelta(0):
        raise CommandError("--ttl-hours must be positive")
    claims: dict[str, Any] = {}
    if partner:
        claims["partner"] = partner
    if email:
        claims["email"] = email
        claims["email_verified"] = email_verified
    if phone:
        claims["phone_number"] = phone
        claims["phone_number_verified"] = phone_verified
    return issue(secret, role=role, sub=sub, ttl=ttl, **claims)


def token(args: argparse.Namespace) -> int:
    secret = _require_secret(_settings(), "token")
    print(
        make_token(
            secret,
            Role(args.role),
            args.sub,
            partner=args.partner,
            email=args.email,
            email_verified=args.email_verified,
            phone=args.phone,
            phone_verified=args.phone_verified,
            ttl=timedelta(hours=args.ttl_hours),
        )
    )
    return 0


# ---------------------------------------------------------------------------- demo


def _add_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="fresh SQLite database with demo data, tokens printed, then serve",
        description="Recreate an SQLite file, migrate it, load demo data (gateway/demo.py), print the "
        "GraphiQL address and ready tokens, and serve. Uses LOYALTY_JWT_SECRET if set, "
        "else a random one for this session.",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--database", default=DEMO_DATABASE, help=f"SQLite file, recreated each run (default {DEMO_DATABASE})"
    )
    parser.set_defaults(run=demo)


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite://{path}"


async def prepare_demo(database_url: str, plugins_path: str) -> tuple[Any, Any]:
    """Migrate the database and load the demo data: (the plugin host, what was loaded)."""
    from gateway import demo as demo_data
    from plugins.manager import build

    host = build(plugins_path)
    await apply_migrations(database_url, out=lambda line: None)
    loaded = await with_database(database_url, lambda: demo_data.load(host.catalog))
    return host, loaded


def demo_tokens(secret: str, partner: str | None) -> dict[str, str]:
    """Ready tokens for the demo's callers, by label."""
    from gateway import demo as demo_data

    alice = demo_data.ALICE
    tokens = {
        f"participant ({alice.customer_id}, verified email)": make_token(
            secret, Role.PARTICIPANT, alice.customer_id, email=alice.email, email_verified=True
        ),
        "ticketing": make_token(secret, Role.TICKETING, "ticketing-demo"),
        "marketer": make_token(secret, Role.MARKETER, "marketing-demo"),
        "admin": make_token(secret, Role.ADMIN, "support-demo"),
    }
    if partner:
        tokens[f"partner ({partner})"] = make_token(secret, Role.PARTNER, partner, partner=partner)
    return tokens


def demo(args: argparse.Namespace) -> int:
    from plugins.config import ConfigError

    settings = _settings()
    path = Path(args.database).resolve()
    check_sqlite_folder(f"sqlite://{path}")
    url = _fresh_sqlite(path)
    secret = settings.jwt_secret or secrets.token_urlsafe(32)
    # The app reads its settings from the environment when uvicorn imports it.
    os.environ["DATABASE_URL"] = url
    os.environ["LOYALTY_JWT_SECRET"] = secret
    try:
        host, loaded = asyncio.run(prepare_demo(url, settings.plugins_path))
    except ConfigError as error:
        raise CommandError(f"plugins: {error}") from None
    from gateway import demo as demo_data

    program = demo_data.primary_program(host.catalog)
    owner = program.owner or next((p.owner for p in host.catalog if p.owner), None)
    tokens = demo_tokens(secret, owner)
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    participant = next(iter(tokens.values()))
    # A trusted document by name (schema/documents/mobile.graphql): no query text needed.
    query = '{"operationName":"Wallets"}'
    lines = [
        "",
        f"Demo database: {path} (fresh, migrated, demo data loaded)",
        f"Token secret: {'LOYALTY_JWT_SECRET' if settings.jwt_secret else 'random, for this run only'}",
        f"GraphiQL: {base}/graphql   (paste a token below as the header: Authorization: Bearer <token>)",
        f"Data: program {program.id}; participants {', '.join(loaded.participants)}; "
        f"events {', '.join(loaded.events)}; orders {', '.join(loaded.orders)}",
        "",
        "Tokens (12 hours):",
        *(f"  {label}:\n    {value}" for label, value in tokens.items()),
        "",
        "Try:",
        f"  curl -s {base}/graphql -H 'Content-Type: application/json' "
        f"-H 'Authorization: Bearer {participant}' -d {shlex.quote(query)}",
        "",
    ]
    print("\n".join(lines), flush=True)
    _uvicorn(args.host, args.port)
    return 0


# ---------------------------------------------------------------------------- main

SUBCOMMANDS: list[Callable[[Any], None]] = [_add_serve, _add_migrate, _add_token, _add_demo, add_campaign]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description="The loyalty gateway.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CommandError as error:
        print(f"loyalty {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
