"""The GraphQL schema: one module per area, composed here. Resolvers stay thin:
parse, authorize, call one loyalty function, shape the answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from strawberry.extensions import MaxTokensLimiter, SchemaExtension

from schema import campaigns, club, orders, participants, programs, promo_codes, referrals, reports, staff
from schema.bounds import bound_arguments
from schema.errors import ContractErrors, GatewaySchema
from schema.validation import CachedParsing, CachedValidation, limit_rules


@strawberry.type
class Query(
    programs.Query,
    participants.Query,
    orders.Query,
    promo_codes.Query,
    reports.Query,
    campaigns.Query,
    referrals.Query,
):
    pass


@strawberry.type
class Mutation(
    participants.Mutation,
    orders.Mutation,
    staff.Mutation,
    promo_codes.Mutation,
    club.Mutation,
    campaigns.Mutation,
    referrals.Mutation,
):
    pass


def build_schema(
    *,
    max_depth: int = 12,
    max_aliases: int = 30,
    max_tokens: int = 2000,
    introspection: bool = True,
    observers: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The schema with the limits and caches of a production gateway.

    `observers` are extensions of the composition layer (metrics, logs); they come first,
    so they leave the operation after ContractErrors has shaped its errors.
    """
    # Factories, not instances: each request gets its own extension objects. The
    # parse and validation caches live at module level, shared by every request.
    rules = limit_rules(max_depth=max_depth, max_aliases=max_aliases, introspection=introspection)
    extensions: list[Callable[[], SchemaExtension]] = [
        *observers,
        ContractErrors,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: CachedParsing(maxsize=1024),
        lambda: CachedValidation(rules),
    ]
    built = GatewaySchema(query=Query, mutation=Mutation, extensions=extensions)
    bound_arguments(built._schema)
    return built


schema = build_schema()
