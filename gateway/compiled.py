"""Trusted read documents answered by their compiled plans (`schema.plans`), before Strawberry.

A GET or a JSON POST that names a trusted document with a plan (by name or hash, or by
sending its exact text) is answered by the plan: no GraphQL parsing, validation or
execution, no dataloaders, no ORM objects. The answer is what Strawberry gives for the
document: the same JSON, media type (GraphQL over HTTP's negotiation), status, request
id, metrics labels and log line (operation name, outcome `ok`, the caller's role).

Whatever a plan does not answer exactly goes to Strawberry as if the plan were not
there: a batch, a streaming Accept, a body that is not a JSON object, variables the
plan does not expect, any error (a refused token, a bad cursor, storage down) and
whatever raises `Unplanned`. Read plans only read, so nothing is done twice but reading.

The trusted writes with plans (`schema.plans.WRITES`: RecordOrder, PayOrder) are
answered the same way over POST (a GET is Strawberry's, which refuses it with 405), with
one difference: only `Unplanned` goes to Strawberry, and a write plan raises it only
before it writes. From its write on, the plan answers every error itself as Strawberry
would (`schema.plans.ticketing`), so no write runs twice; the outcome label is then the
first error's code and the masked error's id is noted, as `metrics.OperationFacts` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types.unset import UNSET

from gateway import metrics, request_context
from gateway.graphql_http import encode, response_media_type
from loyalty.access import Caller
from schema.plans import Plan, PlanInput, Unplanned, WritePlan, Written
from schema.registry import DocumentRegistry, PersistedRequestError, TrustedOperation


class CompiledReads:
    """Mixin for the gateway's HTTP view: plans first, then the view's own `run`.

    The view sets `registry`, `plans` (by operation name), `catalog` and `erasure_key`,
    and gives `caller_reader`, the token's reading that its context uses too.
    """

    registry: DocumentRegistry
    plans: dict[str, Plan]
    writes: dict[str, WritePlan]

    def caller_reader(self, request: Any) -> Callable[[], Caller | None]:
        raise NotImplementedError

    def plan_input(self, request: Any) -> PlanInput:
        raise NotImplementedError

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if context is UNSET and root_value is UNSET and (self.plans or self.writes) and isinstance(request, Request):
            answered = await self.answer_planned(request)
            if answered is not None:
                return answered
        return await super().run(request, context, root_value)  # type: ignore[misc]

    async def answer_planned(self, request: Request) -> Response | None:
        """The plan's answer to this request, or None where Strawberry must answer it."""
        data = await self._request_data(request)
        if data is None:
            return None
        found = self._trusted(data)
        if found is None:
            return None
        variables = data.get("variables")
        if not isinstance(variables, dict | None):
            return None
        write = self.writes.get(found.name)
        if write is not None:
            if request.method != "POST":
                return None  # a mutation over GET: Strawberry's 405
            try:
                written = await write(self.plan_input(request), variables or {}, found.document)
            except Unplanned:  # raised before any write: Strawberry answers, as if the plan were not there
                return None
            return self._respond(request, found, written)
        plan = self.plans.get(found.name)
        if plan is None:
            return None
        try:
            answer = await plan(self.plan_input(request), variables or {})
        except Exception:  # Unplanned, a refused token, BAD_INPUT, storage: Strawberry answers, in its words
            return None
        return self._respond(request, found, Written(answer, []))

    def _respond(self, request: Request, found: TrustedOperation, written: Written) -> Response:
        """The answer as Strawberry's view gives it, with the request's facts noted as OperationFacts notes them."""
        facts = request_context.current()
        if facts is not None:
            facts.operation = metrics.operation_label(found.name, valid=True)
            facts.outcome = metrics.outcome_label(list(written.errors))
            for error in written.errors:
                error_id = (error.extensions or {}).get("errorId")
                if error_id:
                    facts.error_id = str(error_id)
                    break
        body: dict[str, Any] = {"data": written.data}
        if written.errors:
            body["errors"] = [error.formatted for error in written.errors]
        media_type = response_media_type(", ".join(request.headers.getlist("accept")))
        return Response(encode(body), status_code=200, media_type=media_type)

    async def _request_data(self, request: Request) -> Mapping[str, Any] | None:
        # Strawberry's own test of the Accept header, handed that header alone.
        accept = {"accept": request.headers.get("accept", "")}
        if self._get_stream_transport_from_headers(accept) is not None:  # type: ignore[attr-defined]
            return None
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            for name in ("variables", "extensions"):
                if params.get(name):
                    try:
                        params[name] = json.loads(params[name])
                    except ValueError:
                        return None
            return params
        if request.method != "POST":
            return None
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            return None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        return body if isinstance(body, dict) else None

    def _trusted(self, data: Mapping[str, Any]) -> TrustedOperation | None:
        """The served trusted operation the request names or sends, if that is all it does."""
        query, name, extensions = data.get("query"), data.get("operationName"), data.get("extensions")
        if query is None:
            if not isinstance(extensions, dict | None):
                return None
            try:
                found = self.registry.persisted(None, name, extensions)
            except PersistedRequestError:
                return None
        elif isinstance(query, str) and not extensions:
            found = self.registry.by_text(query)
        else:
            return None
        if found is None or (name is not None and name != found.name):
            return None
        return found
