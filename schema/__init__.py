"""The GraphQL schema: one module per area, composed here. Resolvers stay thin:
parse, authorize, call one loyalty function, shape the answer."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from schema import orders, participants, programs, staff
from schema.errors import ContractErrors


@strawberry.type
class Query(programs.Query, participants.Query, orders.Query):
    pass


@strawberry.type
class Mutation(participants.Mutation, orders.Mutation, staff.Mutation):
    pass


def build_schema(
    *, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 2000, introspection: bool = True
) -> strawberry.Schema:
    """The schema with the limits and caches of a production gateway."""
    # Factories, not instances: each request gets its own extension objects. The
    # parser and validation caches live at module level, shared by every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        ContractErrors,
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)


schema = build_schema()
