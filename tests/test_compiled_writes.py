"""Issue 11: RecordOrder and PayOrder answer and write the same on their plans as through Strawberry.

Hypothesis makes a sequence of the ticketing system's writes over a small ledger (ann
and bob joined with 300 bonuses, cy not joined): valid orders with and without
bonusToSpend, spends past the balance (RULE), the same order id again with the same
content (the first answer) and with other content (CONFLICT), payments of unknown orders
(NOT_FOUND) and payments twice, a blocked wallet, callers of the wrong role, without a
token and with a bad one, variables the schema refuses or that only Strawberry takes
(a Decimal sent as a number, an ID as a number, a lone item for a list, an undeclared
field, strings past their bounds, a float for an Int), in both media types, by name,
hash or exact text. The sequence runs twice on the same starting ledger: once as
trusted documents (the plans answer what they can) and once as untrusted text (the
document and a newline, which Strawberry parses and runs). Every answer (status, media
type, JSON) and the resulting rows of orders, items, lots, entries and draws must be equal.

Size: LOYALTY_WRITE_PLAN_EXAMPLES (default 12) sequences.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections import Counter
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import adjustments, clock, events, participants, sql
from loyalty.access import Role
from loyalty.errors import DomainError
from schema.plans import WRITES
from tests import scenario
from tests.conftest import START, truncate
from tests.gql import ERASURE_KEY, Client, post_document, registry, token

T = TypeVar("T")
EXAMPLES = int(os.environ.get("LOYALTY_WRITE_PLAN_EXAMPLES", "12"))
KEY = ERASURE_KEY.encode()
PROGRAM = "live-brighter"
TICKETING = token(Role.TICKETING, "ticketing")
MEDIA = ("application/json", "application/graphql-response+json", None)


def test_every_write_plan_is_for_a_mutation_of_the_registry_as_it_is_now():
    for name, (digest, _) in WRITES.items():
        assert registry()[name].text.startswith("mutation ")
        assert registry()[name].sha256 == digest, f"{name} changed: change its plan (schema/plans) with it"


async def start_ledger(catalog: Any) -> None:
    """ann and bob in live-brighter with 300 active bonuses each; concert e1 in three days."""
    await truncate()
    clock.freeze(START)
    await events.upsert(events.EventDraft("e1", "e1", "concert", clock.now() + timedelta(days=3), "mosgubteatr"))
    for who in ("ann", "bob"):
        request = participants.JoinRequest(PROGRAM, True, True, True, f"{who} name", date(1990, 1, 1))
        await participants.join(catalog, scenario.verified(who), request, erasure_key=KEY)
        await adjustments.adjust(catalog, adjustments.Adjustment(who, PROGRAM, 300, "welcome"))


def order_variables(n: int, who: str, nominal: str, spend: int, odd: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": "t1", "eventId": "e1", "kind": "TICKET", "nominal": nominal}
    order: dict[str, Any] = {"id": f"o{n}", "participantId": who, "programId": PROGRAM, "channel": "WEBSITE"}
    order["items"] = [item]
    if spend:
        order["bonusToSpend"] = spend
    if odd == "nominal-number":
        item["nominal"] = 2000
    elif odd == "id-number":
        order["id"] = n
    elif odd == "lone-item":
        order["items"] = item
    elif odd == "undeclared-field":
        order["colour"] = "red"
    elif odd == "no-channel":
        del order["channel"]
    elif odd == "bad-channel":
        order["channel"] = "PIGEON"
    elif odd == "float-spend":
        order["bonusToSpend"] = 10.0
    elif odd == "negative-spend":
        order["bonusToSpend"] = -5
    elif odd == "long-id":
        order["id"] = "o" * 80
    elif odd == "no-program":
        order["programId"] = "no-such-program"
    elif odd == "fee-and-mode":
        item["serviceFee"], item["discount"], order["mode"], order["fingerprint"] = "100.50", None, "EARN", "fp"
    elif odd == "empty-items":
        order["items"] = []
    elif odd == "bad-decimal":
        item["nominal"] = "12,5"
    variables: dict[str, Any] = {"input": order}
    if odd == "undeclared-variable":
        variables["extra"] = 1
    return variables


callers = st.sampled_from(
    [TICKETING] * 6 + [token(Role.ADMIN, "support"), token(Role.PARTICIPANT, "ann"), None, "not-a-token"]
)
ODD = [
    "nominal-number",
    "id-number",
    "lone-item",
    "undeclared-field",
    "no-channel",
    "bad-channel",
    "float-spend",
    "negative-spend",
    "long-id",
    "no-program",
    "fee-and-mode",
    "empty-items",
    "bad-decimal",
    "undeclared-variable",
]
records = st.tuples(
    st.just("record"),
    callers,
    st.sampled_from(["ann", "bob", "cy"]),
    st.integers(0, 5),
    st.sampled_from(["2000.00", "2000.00", "950.50"]),
    st.sampled_from([0, 0, 50, 120, 400]),
    st.sampled_from(["", "", "", "", "", *ODD]),
)
pays = st.tuples(st.just("pay"), callers, st.sampled_from(["o0", "o1", "o2", "o3", "o4", "o5", "nope", "p" * 80, 7]))
blocks = st.tuples(st.just("block"), st.sampled_from(["ann", "bob"]), st.booleans())
sequences = st.lists(
    st.tuples(
        st.one_of(records, records, pays, pays, blocks),
        st.sampled_from(MEDIA),
        st.sampled_from(["name", "sha256", "text"]),
    ),
    min_size=4,
    max_size=16,
)
_ERROR_ID = re.compile(r"\(error [0-9a-f]{32}\)")


def comparable(answer: Any) -> Any:
    """The answer with the masked errors' random ids left out."""
    for error in answer.get("errors") or []:
        error["message"] = _ERROR_ID.sub("(error …)", error["message"])
        (error.get("extensions") or {}).pop("errorId", None)
    return answer


async def send(
    http: httpx.AsyncClient, name: str, variables: dict[str, Any], caller: str | None, media: str | None, how: str
) -> tuple[int, str, Any]:
    response = await post_document(http, name, variables, caller, media, how)
    return response.status_code, response.headers.get("content-type", ""), comparable(response.json())


async def rows() -> dict[str, list[dict[str, Any]]]:
    """What the writes left: every row of the ledger's tables, without the generated integer ids."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table in ("orders", "order_item", "lot", "entry", "draw", "wallet"):
        kept = [
            {
                key: str(value)
                for key, value in row.items()
                if not (isinstance(value, int) and (key == "id" or key.endswith("_id")))
            }
            for row in await sql.fetch(f"SELECT * FROM {table}")
        ]
        found[table] = sorted(kept, key=repr)
    return found


async def test_record_and_pay_answer_and_write_on_their_plans_as_strawberry_does():
    loop = asyncio.get_running_loop()
    client = Client(LOYALTY_LANDING_RATE="1000000/minute")
    catalog = client.app.state.host.catalog
    view = next(route.app for route in client.app.routes if getattr(route, "path", None) == "/graphql")
    planned: Counter[str] = Counter()
    answer = view.answer_planned

    async def counted(request: Any) -> Any:
        response = await answer(request)
        if response is not None:
            errors = json.loads(response.body).get("errors")
            planned[errors[0]["extensions"]["code"] if errors else "with data"] += 1
        return response

    view.answer_planned = counted

    def run(coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()  # type: ignore[arg-type]

    async def play(sequence: list[Any], trusted: bool) -> tuple[list[Any], dict[str, Any]]:
        await start_ledger(catalog)
        answers = []
        for step, media, how in sequence:
            kind, *args = step
            if kind == "block":
                who, blocked = args
                change = participants.block if blocked else participants.unblock
                with contextlib.suppress(DomainError):  # blocked twice, unblocked when not blocked
                    await change(catalog, who, PROGRAM, "review", "admin", KEY)
                continue
            if kind == "record":
                caller, who, n, nominal, spend, odd = args
                name, variables = "RecordOrder", order_variables(n, who, nominal, spend, odd)
            else:
                caller, order_id = args
                name, variables = "PayOrder", {"id": order_id}
            answers.append(await send(client.http, name, variables, caller, media, how if trusted else "untrusted"))
        return answers, await rows()

    async def example(sequence: list[Any]) -> None:
        fast, fast_rows = await play(sequence, trusted=True)
        slow, slow_rows = await play(sequence, trusted=False)
        for step, one, other in zip([s for s in sequence if s[0][0] != "block"], fast, slow, strict=True):
            assert one == other, step
        assert fast_rows == slow_rows

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(sequence=sequences)
    def differential(sequence: list[Any]) -> None:
        run(example(sequence))

    try:
        await asyncio.to_thread(differential)
    finally:
        await client.http.aclose()
    print(f"answered by a write plan: {dict(planned)}")
    assert planned["with data"] > 0 and planned.total() > planned["with data"], planned
