"""Validation done once per distinct document, limits included.

Strawberry's limiter extensions build new rule classes for every request, which makes
its validation cache miss every time; validating dominated a mobile read. Here the
limit rules are built once per schema, and validation results are cached by (schema,
document, rules). The parser cache hands back the same document object for the same
text, so a known document (the contract's) is validated once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, specified_rules
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
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
