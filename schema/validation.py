"""Validation done once per distinct document, limits included.

Strawberry's limiter extensions build new rule classes for every request, which makes
its validation cache miss every time; validating dominated a mobile read. Here the
limit rules are built once per schema, and validation results are cached by (schema,
document, rules). The parser cache hands back the same document object for the same
text, so a known document (the contract's) is validated once per process.

A document that does not parse is left to Strawberry's own parse (`CachedParsing`), whose
error goes through the operation's extensions like any other: ContractErrors gives it its
`extensions.code`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, GraphQLError, specified_rules
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document

_validate = lru_cache(maxsize=1024)(validate_document)


def limit_rules(*, max_depth: int, max_aliases: int, introspection: bool) -> tuple[type[ASTValidationRule], ...]:
    """graphql-core's rules plus the gateway's depth and alias limits (and no introspection)."""
    extra: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    if not introspection:
        extra.extend(DisableIntrospection().validation_rules)
    return (*specified_rules, *extra)


class CachedValidation(SchemaExtension):
    """Validates with fixed rules, through a process-wide cache."""

    def __init__(self, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.rules = rules

    def on_validate(self) -> Iterator[None]:
        context: Any = self.execution_context
        context.pre_execution_errors = _validate(context.schema._schema, context.graphql_document, self.rules)
        yield


class CachedParsing(ParserCache):
    """Strawberry's parser cache, except for documents that do not parse.

    ParserCache parses on entering the parsing step, outside the code that turns a syntax
    error into a result: the error escaped the operation's extensions, and answered
    without a code. Left undone here, the document is parsed again by Strawberry (a
    failed parse is not cached anyway), where the error is a result like the others.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None
        yield
