"""Errors as the contract names them: `extensions.code`, `extensions.rule`; the unexpected masked."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from tortoise.exceptions import DBConnectionError, OperationalError, TransactionManagementError

from loyalty.errors import DomainError, PluginFailure

log = logging.getLogger("loyalty.errors")


class RateLimited(DomainError):
    """Too many requests from one client address (the HTTP answer is 429 with Retry-After)."""

    code = "RATE_LIMITED"


STORAGE_FAILURES = (DBConnectionError, OperationalError, TransactionManagementError, OSError)


def _coded(error: GraphQLError, message: str, **extensions: object) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def shape(error: GraphQLError) -> GraphQLError:
    """The error a client sees for one raised in execution."""
    original = error.original_error
    if original is None:
        # Document or variable errors found by graphql-core: the client's input is malformed.
        if error.extensions and "code" in error.extensions:
            return error
        return _coded(error, error.message, code="BAD_INPUT")
    if isinstance(original, GraphQLError):
        return _coded(original, original.message, code="BAD_INPUT")
    if isinstance(original, PluginFailure):
        error_id = uuid.uuid4().hex
        log.error(
            "error %s: plugin %s: %s",
            error_id,
            original.plugin,
            original.message,
            exc_info=original,
            extra={"error_id": error_id, "plugin": original.plugin},
        )
        return _coded(
            error,
            f"a rule could not be applied; nothing changed (error {error_id})",
            code=original.code,
            errorId=error_id,
        )
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code}
        rule = getattr(original, "rule", None)
        if rule:
            extensions["rule"] = rule
        field = getattr(original, "field", None)
        if field:
            extensions["field"] = field
        return _coded(error, original.message, **extensions)
    error_id = uuid.uuid4().hex
    if isinstance(original, STORAGE_FAILURES):
        log.error("error %s: storage failed", error_id, exc_info=original, extra={"error_id": error_id})
        return _coded(
            error,
            f"storage is unavailable; nothing changed, safe to retry (error {error_id})",
            code="UNAVAILABLE",
            errorId=error_id,
        )
    log.error("error %s: unexpected", error_id, exc_info=original, extra={"error_id": error_id})
    return _coded(error, f"unexpected error (error {error_id})", code="INTERNAL", errorId=error_id)


class ContractErrors(SchemaExtension):
    """Rewrites every error of a result into the contract's shape."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [shape(error) for error in result.errors]


class GatewaySchema(strawberry.Schema):
    """Strawberry's schema, without its log line for every error.

    Errors of execution reach ContractErrors, which logs the unexpected ones under their
    error id; the client's (document, variables) are not logged, as their messages may
    echo variables (personal data) back. Left to log here: an exception raised outside
    the operation's execution (an extension's), which no one else sees.
    """

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        if execution_context is not None and execution_context.result is not None:
            return  # execution errors: ContractErrors' to log
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, GraphQLError | DomainError):
                log.error("unexpected error outside execution: %s", type(original).__name__, exc_info=original)
