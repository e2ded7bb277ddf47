"""The ASGI application: GraphQL at /graphql, health at /healthz and /readyz.

The ORM opens in the Starlette lifespan (not tortoise.contrib.starlette, which uses the
removed on_event hooks). Plugins are loaded and validated at start-up: a bad
plugins.toml stops the app before it serves anything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from gateway import db
from gateway.auth import caller_from_header
from gateway.settings import Settings
from loyalty import sql
from loyalty.errors import Unauthenticated
from plugins.manager import PluginHost, build
from schema import build_schema
from schema.context import Context

log = logging.getLogger("loyalty.gateway")


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI GraphQL app with the gateway's context."""

    def __init__(self, host: PluginHost, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            build_schema(
                max_depth=settings.max_query_depth,
                max_aliases=settings.max_aliases,
                max_tokens=settings.max_tokens,
                introspection=settings.introspection,
            ),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
            **kwargs,
        )
        self.host = host
        self.settings = settings

    async def get_context(self, request: Any, response: Any = None) -> Context:
        secret = self.settings.jwt_secret or ""
        header = request.headers.get("authorization")

        def read_caller() -> Any:
            if header and not secret:
                raise Unauthenticated("the gateway has no token secret configured")
            return caller_from_header(header, secret)

        return Context(self.host.catalog, read_caller, request=request, response=response)


async def healthz(request: Request) -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database answers (and Redis, where configured)."""
    checks: dict[str, str] = {}
    try:
        await sql.fetch("SELECT 1 AS one")
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready
        checks["database"] = f"unavailable: {type(error).__name__}"
    settings: Settings = request.app.state.settings
    if settings.redis_url:
        try:
            from redis.asyncio import Redis

            client = Redis.from_url(settings.redis_url)
            try:
                await client.ping()
            finally:
                await client.aclose()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", **checks}, status_code=200 if ready else 503)


def create_app(settings: Settings | None = None, *, open_database: bool = True) -> Starlette:
    """Build the app: validates plugins.toml now; opens the database in the lifespan.

    `open_database` False leaves the ORM to the caller (tests that share one).
    """
    settings = settings or Settings()
    host = build(settings.plugins_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if open_database:
            await db.start(settings.database_url)
        try:
            yield
        finally:
            if open_database:
                await db.stop()

    graphql = GatewayGraphQL(host, settings)
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.host = host
    return app


class _LazyApp:
    """`gateway.app:app` for uvicorn: built on first use, so importing this module reads no settings."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = _LazyApp()
