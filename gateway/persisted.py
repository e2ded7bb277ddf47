"""Persisted operations over HTTP: a request may name a trusted document instead of sending it.

A POST without `query` names one of `schema/documents` by the SHA-256 of its text
(`extensions.persistedQuery`, as Apollo's automatic persisted queries send it) or by
`operationName` alone. The view then runs the registry's text as if the client had sent
it; an unknown or not-served name or hash is answered with PERSISTED_QUERY_NOT_FOUND.
A request with `query` runs as sent (its hash, if any, is checked). Only request parsing
is hooked, so the view's execution and responses stay Strawberry's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from schema.registry import DocumentRegistry, PersistedRequestError


@dataclasses.dataclass
class RefusedRequest(GraphQLRequestData):
    """A request naming a trusted document wrongly: answered with `error`, never executed."""

    error: PersistedRequestError | None = None


class PersistedOperations:
    """Mixin for Strawberry's HTTP view; the view sets `registry` before serving."""

    registry: DocumentRegistry

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET naming a persisted operation (no `query`) asks for it, not for GraphiQL."""
        named = "extensions" in request.query_params or "operationName" in request.query_params
        return not named and super().should_render_graphql_ide(request)  # type: ignore[misc, no-any-return]

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parsing, then a persisted operation (by hash or by name) gets its text."""
        data = await super().parse_http_body(request)  # type: ignore[misc]
        if isinstance(data, list):
            return [self.with_persisted_text(item) for item in data]
        return self.with_persisted_text(data)

    def with_persisted_text(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """The request as if its client had sent the trusted text it names."""
        try:
            found = self.registry.persisted(data.query, data.operation_name, data.extensions)
        except PersistedRequestError as error:
            return RefusedRequest(None, data.variables, data.operation_name, data.extensions, data.protocol, error)
        if found is None:
            return data
        return dataclasses.replace(data, query=found.text, operation_name=data.operation_name or found.name)

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A refused request is answered with its error; any other runs as Strawberry runs it."""
        if isinstance(request_data, RefusedRequest) and request_data.error is not None:
            return ExecutionResult(data=None, errors=[request_data.error.as_graphql()])
        return await super().execute_single(  # type: ignore[misc, no-any-return]
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
