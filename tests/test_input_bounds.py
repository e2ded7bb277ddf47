"""Hostile input: every string and list the API takes is bounded, and an over-long one is
BAD_INPUT naming the field, never a masked INTERNAL from the ORM (issue 10, item 9)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)

from loyalty.access import Role
from schema import schema
from tests.gql import Client, token
from tests.scenario import PROGRAM

ADMIN = token(Role.ADMIN, "support")
TICKETING = token(Role.TICKETING, "ticketing")
MARKETER = token(Role.MARKETER, "marketing")
LONG = "x" * 210  # the fuzzer's case: 210 > 128


def _needs_bound(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList) or (
        isinstance(type_, GraphQLScalarType) and type_.name in ("String", "ID", "JSON")
    )


def coordinates() -> set[str]:
    """Every String, ID, JSON or list argument and input field of the schema."""
    found: set[str] = set()
    for name, type_ in schema._schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(type_, GraphQLObjectType):
            for field_name, field in type_.fields.items():
                found |= {f"{name}.{field_name}.{arg}" for arg, a in field.args.items() if _needs_bound(a.type)}
        elif isinstance(type_, GraphQLInputObjectType):
            found |= {f"{name}.{field_name}" for field_name, f in type_.fields.items() if _needs_bound(f.type)}
    return found


def test_every_string_id_json_and_list_argument_has_a_bound() -> None:
    from schema.bounds import BOUNDS

    assert coordinates() - set(BOUNDS) == set(), "arguments without a bound in schema/bounds.py"
    assert set(BOUNDS) - coordinates() == set(), "bounds for arguments the schema no longer has"


def test_bounds_agree_with_the_columns() -> None:
    from loyalty.models import Order, Participant, Wallet
    from schema.bounds import BOUNDS

    assert BOUNDS["OrderInput.id"].length == Order._meta.fields_map["id"].max_length == 128
    assert BOUNDS["Query.participant.id"].length == Participant._meta.fields_map["customer_id"].max_length
    assert BOUNDS["AdjustmentInput.programId"].length == Wallet._meta.fields_map["program_id"].max_length == 64
    assert BOUNDS["AudienceInput.participantIds"].items == 100_000


ORDER_ITEM = {"id": "i1", "eventId": "e1", "kind": "TICKET", "nominal": "100.00"}


def _order(**changes: Any) -> dict[str, Any]:
    return {
        "id": "o1",
        "participantId": "c1",
        "programId": PROGRAM,
        "channel": "WEBSITE",
        "items": [ORDER_ITEM],
        **changes,
    }


CASES = [
    # (query, variables, token, the field named)
    ("query($id: ID!) { order(id: $id) { id } }", {"id": LONG}, TICKETING, "id"),
    ("query($id: ID!) { participant(id: $id) { id } }", {"id": LONG}, ADMIN, "id"),
    ("mutation($id: ID!) { payOrder(id: $id) { order { id } } }", {"id": LONG}, TICKETING, "id"),
    (
        "mutation($id: ID!, $reason: String!) { blockParticipant(id: $id, reason: $reason) { participant { id } } }",
        {"id": "c1", "reason": "y" * 501},
        ADMIN,
        "reason",
    ),
    (
        "mutation($input: OrderInput!) { recordOrder(input: $input) { order { id } } }",
        {"input": _order(id=LONG)},
        TICKETING,
        "input.id",
    ),
    (
        "mutation($input: OrderInput!) { recordOrder(input: $input) { order { id } } }",
        {"input": _order(items=[{**ORDER_ITEM, "id": LONG}])},
        TICKETING,
        "input.items[0].id",
    ),
    (
        "mutation($input: OrderInput!) { recordOrder(input: $input) { order { id } } }",
        {"input": _order(items=[{**ORDER_ITEM, "id": f"i{n}"} for n in range(501)])},
        TICKETING,
        "input.items",
    ),
    (
        "mutation($input: EventInput!) { upsertEvent(input: $input) { event { id } } }",
        {
            "input": {
                "id": "e1",
                "title": "t",
                "category": "x" * 65,
                "startsAt": "2026-05-01T19:00:00Z",
                "organizerId": "o",
            }
        },
        TICKETING,
        "input.category",
    ),
    (
        "query($p: ID!, $a: AudienceInput!) { previewAudience(programId: $p, audience: $a) { count } }",
        {"p": PROGRAM, "a": {"participantIds": ["c1", LONG]}},
        MARKETER,
        "audience.participantIds[1]",
    ),
]


@pytest.mark.parametrize(("query", "variables", "caller", "field"), CASES, ids=[c[3] + ":" + c[0][:30] for c in CASES])
async def test_an_over_long_string_or_list_is_bad_input_naming_the_field(
    query: str, variables: dict[str, Any], caller: str, field: str
) -> None:
    client = Client()
    result = await client(query, variables, token=caller)
    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_INPUT", error
    assert error["extensions"]["field"] == field


async def test_strings_at_their_bound_pass_the_check() -> None:
    client = Client()
    result = await client("query($id: ID!) { order(id: $id) { id } }", {"id": "x" * 128}, token=TICKETING)
    assert result == {"data": {"order": None}}
