"""GraphQL over HTTP as the spec says: media types, status codes, queries over GET.

A client that asks for `application/graphql-response+json` gets it, and a request that
fails before execution (a document that does not parse or validate, variables that do
not coerce) then answers 400 without a `data` entry: the status tells a proxy or a
client library that nothing ran. `application/json` answers as it always has, 200 with
`"data": null`, since that is what the spec asks of it and what existing clients read.
No Accept header, `*/*` and anything else unsupported get `application/json`.

Queries may come over GET; a mutation over GET answers 405 (it must not run, and a GET
may be replayed by anything between the client and the gateway).

The errors keep the contract's shape (`errors[].extensions.code`): only the status and
the media type change.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# Codes (contract/README.md, Errors) of a failure on the gateway's side, not the client's.
SERVER_FAILURES = frozenset({"INTERNAL", "UNAVAILABLE"})

ContextT = TypeVar("ContextT")
RootValueT = TypeVar("RootValueT")


def encode(data: object) -> bytes:
    """JSON as bytes: orjson, or the standard library's for what orjson refuses (an int past 64 bits)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def _quality(params: list[str]) -> float | None:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return None  # a malformed range is ignored
    return 1.0


def response_media_type(accept: str | None) -> str:
    """The media type to answer with, by the Accept header (RFC 9110 negotiation).

    `application/graphql-response+json` only when named and wanted at least as much as
    `application/json` (which `*/*` and `application/*` also match): wildcards and the
    absent header keep the legacy type, as the spec asks during its transition.
    """
    if not accept:
        return JSON
    wanted: float | None = None  # graphql-response+json, named
    json_by_specificity: dict[int, float] = {}  # 2: application/json, 1: application/*, 0: */*
    for media_range in accept.split(","):
        media, *params = media_range.split(";")
        media = media.strip().lower()
        quality = _quality(params)
        if quality is None:
            continue
        if media == GRAPHQL_RESPONSE_JSON:
            wanted = max(wanted or 0.0, quality)
        specificity = {JSON: 2, "application/*": 1, "*/*": 0}.get(media)
        if specificity is not None:
            json_by_specificity[specificity] = max(json_by_specificity.get(specificity, 0.0), quality)
    # The most specific range that matches application/json sets its quality.
    json_quality = json_by_specificity[max(json_by_specificity)] if json_by_specificity else None
    if wanted and (json_quality is None or wanted >= json_quality):
        return GRAPHQL_RESPONSE_JSON
    return JSON


def failed_before_execution(response: GraphQLHTTPResponse) -> bool:
    """Nothing ran: no data and no error on a field (a field's error carries its path).

    A field error that nulls the whole result (a non-null root field) ran: it has data,
    null, and answers 200.
    """
    errors: list[dict[str, Any]] = response.get("errors") or []  # type: ignore[assignment]
    return response.get("data") is None and bool(errors) and all("path" not in error for error in errors)


def failure_status(response: GraphQLHTTPResponse) -> int:
    """400 for the client's request, 500 where the gateway failed before executing it."""
    errors: list[dict[str, Any]] = response.get("errors") or []  # type: ignore[assignment]
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    return 500 if codes & SERVER_FAILURES else 400


class MethodNotAllowed(HTTPException):
    """A mutation over GET."""

    def __init__(self, reason: str) -> None:
        super().__init__(405, reason)


class GraphQLOverHTTP(GraphQL[ContextT, RootValueT], Generic[ContextT, RootValueT]):
    """Strawberry's ASGI view with the spec's media type negotiation and status codes."""

    def encode_json(self, data: object) -> bytes:
        return encode(data)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)
        except MethodNotAllowed as refusal:
            return PlainTextResponse(refusal.reason, status_code=405, headers={"Allow": "POST"})

    async def get_sub_response(self, request: Any) -> Response:
        sub_response = await super().get_sub_response(request)
        if isinstance(request, Request):
            # Kept on the sub-response: create_response sees it, not the request.
            sub_response.media_type = response_media_type(", ".join(request.headers.getlist("accept")))
        return sub_response

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as error:
            # Strawberry answers 400 for an operation type the method may not run.
            if isinstance(error.__cause__, InvalidOperationTypeError) and request_adapter.method == "GET":
                raise MethodNotAllowed(error.reason) from error
            raise

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        media_type = sub_response.media_type or JSON
        status: int | None = None
        if (
            media_type == GRAPHQL_RESPONSE_JSON
            and isinstance(response_data, dict)
            and failed_before_execution(response_data)
        ):
            # The spec: no data entry where nothing ran (application/json keeps "data": null).
            response_data = {key: value for key, value in response_data.items() if key != "data"}  # type: ignore[assignment]
            status = failure_status(response_data)
        response = super().create_response(response_data, sub_response)
        if media_type != JSON:
            response.headers["content-type"] = media_type
        if status is not None:
            response.status_code = status
        return response
