"""`loyalty serve` and `loyalty demo`: the GraphQL API under uvicorn, on a real or a demo database."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.database import apply_migrations, check_sqlite_folder, with_database
from gateway.cli.exits import CommandError
from gateway.cli.tokens import make_token, require_secret
from gateway.settings import Settings
from loyalty.access import Role

APP = "gateway.app:app"
DEMO_DATABASE = "loyalty-demo.sqlite3"

Host = Annotated[str, typer.Option(help="interface to bind")]
Port = Annotated[int, typer.Option(help="port", min=0, max=65535)]


def _uvicorn(host: str, port: int, reload: bool = False) -> None:
    import uvicorn

    from gateway import logs

    # JSON lines from the first one: uvicorn is told to leave logging alone, and its
    # access log (client addresses) gives way to the gateway's "request done" line.
    logs.configure(Settings().log_level)
    uvicorn.run(APP, host=host, port=port, reload=reload, log_config=None, access_log=False)


def console_line(settings: Settings, base: str, marketer: str, program_id: str) -> list[str]:
    """The marketing console's address, signed in: the token rides in the fragment, never sent to a server."""
    if not settings.console:
        return []
    return [f"Marketing console: {base}/console/#token={marketer}&program={program_id}"]


def require_erasure_key(settings: Settings, command: str) -> str:
    """LOYALTY_ERASURE_KEY, or a CommandError that says how to set it (LB-16)."""
    if not settings.erasure_key:
        raise CommandError(
            f"LOYALTY_ERASURE_KEY is not set; `loyalty {command}` needs the secret that keys erased "
            "participants' pseudonyms (LB-16). Keep it secret and never change it.\n"
            "  Set it, e.g.: export LOYALTY_ERASURE_KEY="
            "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
            "  (or try `loyalty demo`, which makes one up for its session)"
        )
    return settings.erasure_key


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    reload: Annotated[bool, typer.Option("--reload", help="restart on code changes (development only)")] = False,
) -> None:
    """Serve the GraphQL API with uvicorn.

    Serves gateway.app:app. Reads DATABASE_URL, REDIS_URL, LOYALTY_PLUGINS,
    LOYALTY_JWT_SECRET and LOYALTY_ERASURE_KEY (both required). Does not migrate: run
    `loyalty migrate` first.
    """
    settings = Settings()
    require_secret(settings, "serve")
    require_erasure_key(settings, "serve")
    check_sqlite_folder(settings.database_url)
    _uvicorn(host, port, reload=reload)


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite://{path}"


async def prepare_demo(database_url: str, plugins_path: str, erasure_key: str) -> tuple[Any, Any]:
    """Migrate the database and load the demo data: (the plugin host, what was loaded)."""
    from gateway import demo as demo_data
    from plugins.manager import build

    host = build(plugins_path)
    await apply_migrations(database_url, out=lambda line: None)
    loaded = await with_database(database_url, lambda: demo_data.load(host.catalog, erasure_key.encode()))
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


def demo(
    port: Port = 8000,
    host: Host = "127.0.0.1",
    database: Annotated[Path, typer.Option(help="SQLite file, recreated each run")] = Path(DEMO_DATABASE),
) -> None:
    """Fresh SQLite database with demo data, tokens printed, then serve.

    Recreates an SQLite file, migrates it, loads demo data (gateway/demo.py), prints
    the GraphiQL address and ready tokens, and serves. Uses LOYALTY_JWT_SECRET if
    set, else a random one for this session.
    """
    from gateway import demo as demo_data
    from plugins.config import ConfigError

    settings = Settings()
    path = database.resolve()
    check_sqlite_folder(f"sqlite://{path}")
    url = _fresh_sqlite(path)
    secret = settings.jwt_secret or secrets.token_urlsafe(32)
    # The app reads its settings from the environment when uvicorn imports it.
    os.environ["DATABASE_URL"] = url
    os.environ["LOYALTY_JWT_SECRET"] = secret
    os.environ["LOYALTY_ERASURE_KEY"] = settings.erasure_key or secrets.token_urlsafe(32)
    # A demo is for exploring: GraphiQL and introspection on (off by default in `serve`).
    os.environ.setdefault("LOYALTY_GRAPHIQL", "true")
    os.environ.setdefault("LOYALTY_INTROSPECTION", "true")
    try:
        plugin_host, loaded = asyncio.run(prepare_demo(url, settings.plugins_path, os.environ["LOYALTY_ERASURE_KEY"]))
    except ConfigError as error:
        raise CommandError(f"plugins: {error}") from None

    program = demo_data.primary_program(plugin_host.catalog)
    owner = program.owner or next((p.owner for p in plugin_host.catalog if p.owner), None)
    tokens = demo_tokens(secret, owner)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    participant = next(iter(tokens.values()))
    # A trusted document by name (schema/documents/mobile.graphql): no query text needed.
    query = '{"operationName":"Wallets"}'
    lines = [
        "",
        f"Demo database: {path} (fresh, migrated, demo data loaded)",
        f"Token secret: {'LOYALTY_JWT_SECRET' if settings.jwt_secret else 'random, for this run only'}",
        f"GraphiQL: {base}/graphql   (paste a token below as the header: Authorization: Bearer <token>)",
        *console_line(settings, base, tokens["marketer"], program.id),
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
    _uvicorn(host, port)
