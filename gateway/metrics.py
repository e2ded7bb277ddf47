"""Prometheus metrics of the gateway: requests by operation and outcome, and GET /metrics.

Request series are recorded by `RequestScope` (gateway.request_context) from the facts
`OperationFacts` notes during execution; the figures read from the database and the
queue at scrape time are `gateway.collectors`'; plugin failures are counted where the
PL-03 policy is applied (`plugins.policy`, through `plugins.failures`), job runs where jobs run
(`workers.metrics`). Every series is listed in docs/operations.md.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from gateway import request_context
from gateway.collectors import ScrapeTime
from gateway.request_context import RequestFacts

# The *_created series only double what a scrape shows; prometheus-client's switch is process-wide.
disable_created_metrics()

REQUESTS = Counter(
    "loyalty_graphql_requests",
    "GraphQL requests by operation name and outcome (ok, or the first error's extensions.code).",
    ["operation", "outcome"],
)
LATENCY = Histogram(
    "loyalty_graphql_request_duration_seconds",
    "Time from the request's first byte to its response's last, by operation name and outcome.",
    ["operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

ANONYMOUS = "anonymous"  # the document names no operation
OTHER = "other"  # not a name we label by (see operation_label)
MAX_OPERATIONS = 200
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_CODE = re.compile(r"[A-Z][A-Z_]{0,39}")
_labelled: set[str] = set()


def operation_label(name: str | None, *, valid: bool) -> str:
    """The operation's name as a label, bounded: a name joins the label set only when its
    document validated, it is a plain GraphQL name of at most 64 characters, and fewer
    than MAX_OPERATIONS names are labelled yet in this process; otherwise "other"."""
    if not name:
        return ANONYMOUS
    if name in _labelled:
        return name
    if not valid or len(_labelled) >= MAX_OPERATIONS or not _NAME.fullmatch(name):
        return OTHER
    _labelled.add(name)
    return name


def outcome_label(errors: list[object] | None) -> str:
    """ "ok", or the first error's contract code."""
    if not errors:
        return "ok"
    extensions = getattr(errors[0], "extensions", None) or {}
    code = extensions.get("code")
    return code if isinstance(code, str) and _CODE.fullmatch(code) else "OTHER"


class OperationFacts(SchemaExtension):
    """Notes the operation, its outcome and a masked error's id on the request's facts.

    Listed before ContractErrors, so it leaves the operation after the errors are shaped.
    """

    def on_execute(self) -> Iterator[None]:
        # Reached only for a document that parsed and validated.
        facts = request_context.current()
        if facts is not None:
            facts.operation = operation_label(self.execution_context.operation_name, valid=True)
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        facts = request_context.current()
        if facts is None:
            return
        result = self.execution_context.result
        errors = list(getattr(result, "errors", None) or [])
        if facts.operation is None:
            facts.operation = operation_label(self._name(), valid=False)
        facts.outcome = outcome_label(errors)
        for error in errors:
            error_id = (getattr(error, "extensions", None) or {}).get("errorId")
            if error_id:
                facts.error_id = str(error_id)
                break

    def _name(self) -> str | None:
        try:
            return self.execution_context.operation_name
        except Exception:  # an unparsable document has no name to give
            return None


def observe_request(facts: RequestFacts, method: str, path: str, status: int, seconds: float) -> None:
    """Count one GraphQL request to /graphql and its latency: RequestScope's observer.

    A POST, a GET that ran an operation or was refused (a mutation over GET); not a GET
    of the GraphiQL page."""
    if path != "/graphql" or (method != "POST" and facts.outcome is None and status < 400):
        return
    operation = facts.operation or ANONYMOUS
    # A request that never reached execution (a body that is not GraphQL) has no outcome.
    outcome = facts.outcome or "BAD_REQUEST"
    REQUESTS.labels(operation, outcome).inc()
    LATENCY.labels(operation, outcome).observe(seconds)


def endpoint(scrape: ScrapeTime) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics: the process's series, then the app's scrape-time figures."""
    app_registry = CollectorRegistry(auto_describe=False)
    app_registry.register(scrape)

    async def metrics(request: Request) -> Response:
        await scrape.refresh()
        body = generate_latest(REGISTRY) + generate_latest(app_registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
