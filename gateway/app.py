"""The ASGI application: GraphQL at /graphql, health at /healthz and /readyz, metrics at /metrics.

The ORM opens in the Starlette lifespan (not tortoise.contrib.starlette, which uses the
removed on_event hooks). Plugins are loaded and validated at start-up: a bad
plugins.toml stops the app before it serves anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import console, db, logs, metrics, request_context
from gateway.auth import caller_from_header
from gateway.body_limit import BodyLimit
from gateway.collectors import ScrapeTime
from gateway.compiled import CompiledReads
from gateway.graphql_http import GraphQLOverHTTP
from gateway.persisted import PersistedOperations
from gateway.rate_limits import ClientLimits, client_address
from gateway.settings import Settings
from loyalty import sql
from loyalty.access import Caller
from loyalty.errors import Unauthenticated
from plugins.manager import PluginHost, build
from schema import build_schema
from schema.context import Context
from schema.plans import PlanInput, plans_for, writes_for
from schema.registry import DocumentRegistry
from schema.validation import limit_rules
from workers.queue import ArqQueue, InProcessQueue
from workers.schedule import SCHEDULE, Periodic, due, tick

log = logging.getLogger("loyalty.gateway")


def job_queue(settings: Settings, host: PluginHost | None = None) -> ArqQueue | InProcessQueue:
    """Jobs go to arq when REDIS_URL is set; otherwise they run inside this process, with
    the programs' plugins (`host`) at hand as a worker has them."""
    if settings.redis_url:
        return ArqQueue(settings.redis_url, settings.queue_name)
    context = {"notify_retry": settings.notify_retry()}
    return InProcessQueue(context={**context, "catalog": host.catalog} if host is not None else context)


def in_process_cron(queue: InProcessQueue, schedule: Sequence[Periodic] = SCHEDULE) -> asyncio.Task[None]:
    """The workers' cron (`workers.schedule`), for a gateway without Redis."""
    step = tick(schedule)

    async def loop() -> None:
        elapsed = timedelta(0)
        while True:
            for job in due(elapsed, schedule):
                await queue.enqueue(job, job_id=job)
            await asyncio.sleep(step.total_seconds())
            elapsed += step

    return asyncio.get_running_loop().create_task(loop())


@functools.cache
def served_schema(
    max_depth: int, max_aliases: int, max_tokens: int, introspection: bool
) -> tuple[strawberry.Schema, DocumentRegistry]:
    """The schema for these limits and its trusted documents validated against it: once per process."""
    built = build_schema(
        max_depth=max_depth,
        max_aliases=max_aliases,
        max_tokens=max_tokens,
        introspection=introspection,
        observers=[metrics.OperationFacts],
    )
    # The same limits as any request, so a document the limits refuse is not served.
    rules = limit_rules(max_depth=max_depth, max_aliases=max_aliases, introspection=introspection)
    return built, DocumentRegistry.load(built._schema, rules, max_tokens=max_tokens)


class GatewayGraphQL(CompiledReads, PersistedOperations, GraphQLOverHTTP[Context, None]):
    """Strawberry's ASGI GraphQL app, GraphQL over HTTP as the spec says, with the gateway's context
    and trusted documents, the hot reads among them answered by their compiled plans."""

    def __init__(self, host: PluginHost, settings: Settings, **kwargs: Any) -> None:
        built, self.registry = served_schema(
            settings.max_query_depth, settings.max_aliases, settings.max_tokens, settings.introspection
        )
        super().__init__(
            built,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,  # a mutation over GET answers 405
            **kwargs,
        )
        self.host = host
        self.settings = settings
        self.queue = job_queue(settings, host)
        self.limits = ClientLimits(settings.landing_rate, settings.redis_url)
        self.plans = plans_for(self.registry)
        self.writes = writes_for(self.registry)
        self.erasure_key = settings.erasure_key.encode() if settings.erasure_key else None

    def caller_reader(self, request: Any) -> Callable[[], Caller | None]:
        """The request's caller, read from its Authorization header when first asked for."""
        secret = self.settings.jwt_secret or ""
        header = request.headers.get("authorization")

        def read_caller() -> Caller | None:
            if header and not secret:
                raise Unauthenticated("the gateway has no token secret configured")
            caller = caller_from_header(
                header, secret, issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience
            )
            request_context.note_role(caller.role.value if caller else "anonymous")
            return caller

        return read_caller

    def plan_input(self, request: Any) -> PlanInput:
        return PlanInput(self.host.catalog, self.caller_reader(request), self.erasure_key)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        read_caller = self.caller_reader(request)

        async def throttle(bucket: str) -> int | None:
            return await self.limits.hit(bucket, client_address(request, self.settings.trust_forwarded_for))

        return Context(
            self.host.catalog,
            read_caller,
            request=request,
            response=response,
            queue=self.queue,
            campaign_batch_size=self.settings.campaign_batch_size,
            erasure_key=self.erasure_key,
            throttle=throttle,
        )


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

    graphql = GatewayGraphQL(host, settings)
    if graphql.registry.not_served:
        # Documents a later issue builds: held, but not served as persisted operations yet.
        log.info("trusted documents this schema does not serve: %s", ", ".join(sorted(graphql.registry.not_served)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if open_database:
            await db.start(settings.database_url)
        # Without Redis this process runs the jobs, and the sweeper and burns with them.
        periodic = in_process_cron(graphql.queue) if isinstance(graphql.queue, InProcessQueue) else None
        try:
            yield
        finally:
            if periodic is not None:
                periodic.cancel()
            await graphql.queue.close()
            if open_database:
                await db.stop()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics.endpoint(ScrapeTime(graphql.queue))),
            *(console.routes() if settings.console else []),
        ],
        middleware=[
            Middleware(
                request_context.RequestScope,
                observe=metrics.observe_request,
                quiet=("/healthz", "/readyz", "/metrics"),
            ),
            # Inside the request scope, so a refused body still has its request id and metrics.
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.host = host
    app.state.queue = graphql.queue
    app.state.registry = graphql.registry
    return app


# Young collections once per this many allocations (Python's default: 700), the older
# generations half as often as by default.
GC_THRESHOLDS = (10_000, 20, 20)


def settle_heap() -> None:
    """Tune the cyclic garbage collector for serving, once the app is built.

    What start-up made (the schema, the trusted documents and their plans, the plugins)
    lives as long as the process: frozen, the collector stops scanning it on every full
    collection. A request makes thousands of short-lived objects, so young collections
    run less often. In S3 (bench/orders.py spend) this saved about 4 % of the gateway's
    CPU per spend and took its p99 from about 100 to 76-80 ms: collection pauses.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _LazyApp:
    """`gateway.app:app` for uvicorn: built on first use, so importing this module reads no settings."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            settings = Settings()
            # uvicorn set up its own plain-text logging before importing this app.
            logs.configure(settings.log_level)
            self._app = create_app(settings)
            settle_heap()
        await self._app(scope, receive, send)


app = _LazyApp()
