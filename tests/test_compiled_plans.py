"""Issue 11: every trusted read document answers the same on the fast path as through Strawberry.

For every query of the registry (`schema/documents`), over ledgers hypothesis makes
(participants in several programs, PENDING and BLOCKED wallets, a global block, an
erasure, active, pending, spent, burned and expired bonuses, refunds with debt, staff
tiers), each document is sent twice by the same caller: once as a trusted document by
name or hash (the fast path: its compiled plan where it has one, else the precompiled
document run by Strawberry), once as untrusted text (the same text with a newline
added, which Strawberry parses and validates as any client's). The two answers must be
equal: status, media type and the whole JSON, data, errors and nulls. Callers: the
participants (verified, unverified, with new contacts), no token, a bad token, and
every staff role; both media types; POST and GET; cursors of real entries, of another
list and of nothing.

Size: LOYALTY_PLAN_EXAMPLES (default 40) ledgers, each asked every read document a few times.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from graphql import OperationDefinitionNode, OperationType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import adjustments, clock, erasure, events, ledger, orders, participants, tiers
from loyalty.access import Role
from loyalty.enums import Channel, ItemKind
from loyalty.errors import DomainError
from loyalty.pagination import cursor
from schema.plans import PLANS
from tests import scenario
from tests.conftest import START, truncate
from tests.gql import ERASURE_KEY, Client, post_document, registry, token
from tests.invariants import assert_ledger_invariants

T = TypeVar("T")
EXAMPLES = int(os.environ.get("LOYALTY_PLAN_EXAMPLES", "40"))
KEY = ERASURE_KEY.encode()
PROGRAMS = ("live-brighter", "mgt-plus", "tkt-ge")
CHANNEL = {"live-brighter": Channel.WEBSITE, "mgt-plus": Channel.WIDGET, "tkt-ge": Channel.WEBSITE}
PEOPLE = ("ann", "bob", "cy")
MEDIA = ("application/json", "application/graphql-response+json", None)


def read_documents() -> list[str]:
    """Every query of the registry, served or not."""
    return [
        name
        for name, operation in registry().items()
        if any(
            isinstance(d, OperationDefinitionNode) and d.operation is OperationType.QUERY
            for d in operation.document.definitions
        )
    ]


def test_every_plan_is_for_a_read_document_of_the_registry_as_it_is_now():
    for name, (digest, _) in PLANS.items():
        assert name in read_documents()
        assert registry()[name].sha256 == digest, f"{name} changed: change its plan (schema/plans) with it"


# -- ledgers ---------------------------------------------------------------------------------

people = st.sampled_from(PEOPLE)
programs = st.sampled_from(PROGRAMS)
wallets = st.integers(0, 9)  # one of the joins, by its index (modulo their number)
joins = st.lists(st.tuples(st.just("join"), people, programs, st.booleans()), min_size=1, max_size=5)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("join"), people, programs, st.booleans()),
        st.tuples(st.just("adjust"), wallets, st.integers(-300, 900).filter(bool), st.sampled_from([None, 1, 30])),
        st.tuples(st.just("buy"), wallets, st.integers(-3, 20), st.sampled_from(["1000", "2500.50", "9000"])),
        st.tuples(st.just("spend"), wallets, st.integers(1, 400)),
        st.tuples(st.just("refund"), st.integers(0, 12)),
        st.tuples(st.just("advance"), st.integers(1, 120)),
        st.tuples(st.just("burn")),
        st.tuples(st.just("block"), people, st.sampled_from([*PROGRAMS, None]), st.booleans()),
        st.tuples(st.just("tier"), people, st.sampled_from(["Basic", "Silver", "Gold"])),
        st.tuples(st.just("erase"), people),
    ),
    max_size=18,
)


async def _buy(catalog: Any, who: str, program: str, n: int, starts: timedelta, nominal: Decimal, spend: int) -> None:
    """Order o<n>: one ticket to event e<n>, starting `starts` from now, recorded and paid."""
    await events.upsert(events.EventDraft(f"e{n}", f"e{n}", "concert", clock.now() + starts, "mosgubteatr"))
    item = orders.ItemDraft(id=f"t{n}", event_id=f"e{n}", kind=ItemKind.TICKET, nominal=nominal)
    draft = orders.OrderDraft(who, program, CHANNEL[program], (item,), id=f"o{n}", bonus_to_spend=spend)
    await orders.record_order(catalog, draft)
    await orders.pay_order(catalog, f"o{n}")


async def build_ledger(catalog: Any, plan: list[tuple[Any, ...]]) -> list[str]:
    """Apply the steps; a refused one (a domain error) is skipped. The ids of the orders made."""
    made: list[str] = []
    joined = [(step[1], step[2]) for step in plan if step[0] == "join"]
    for n, step in enumerate(plan):
        kind, *args = step
        if kind in ("adjust", "buy", "spend"):
            args = [*joined[args[0] % len(joined)], *args[1:]]
        try:
            if kind == "join":
                who, program, verified = args
                identity = scenario.verified(who) if verified else participants.Identity(customer_id=who)
                request = participants.JoinRequest(program, True, True, True, f"{who} name", date(1990, 1, 1))
                await participants.join(catalog, identity, request, erasure_key=KEY)
                if n % 2 == 0:  # half the wallets start with bonuses: active ones and pending ones
                    await adjustments.adjust(catalog, adjustments.Adjustment(who, program, 300 + n, "welcome", 20))
                    made.append(f"o{n}")
                    await _buy(catalog, who, program, n, timedelta(days=3), Decimal("4000"), 0)
            elif kind == "adjust":
                who, program, amount, days = args
                await adjustments.adjust(catalog, adjustments.Adjustment(who, program, amount, "staff", days))
            elif kind == "buy":
                who, program, days, nominal = args
                made.append(f"o{n}")
                await _buy(catalog, who, program, n, timedelta(days=days), Decimal(nominal), 0)
            elif kind == "spend":
                who, program, spend = args
                made.append(f"o{n}")
                await _buy(catalog, who, program, n, timedelta(days=5), Decimal("5000"), spend)
            elif kind == "refund" and made:
                order = made[args[0] % len(made)]
                await scenario.refund(catalog, order, f"t{order[1:]}")
            elif kind == "advance":
                clock.advance(timedelta(days=args[0]))
            elif kind == "burn":
                await ledger.burn_expired()
            elif kind == "block":
                who, program, blocked = args
                change = participants.block if blocked else participants.unblock
                await change(catalog, who, program, "review", "admin", KEY)
            elif kind == "tier":
                await tiers.set_tier(catalog, args[0], "tkt-ge", args[1])
            elif kind == "erase":
                await erasure.erase(args[0], KEY)
        except DomainError:
            continue
    return made


# -- what is asked ---------------------------------------------------------------------------

participants_verified = st.sampled_from(
    [token(Role.PARTICIPANT, who, email=f"{who}@example.com", email_verified=True) for who in PEOPLE]
)
callers = participants_verified | st.sampled_from(
    [
        *(token(Role.PARTICIPANT, who, email=f"{who}@example.com", email_verified=True) for who in PEOPLE),
        token(Role.PARTICIPANT, "ann"),  # no contacts
        token(Role.PARTICIPANT, "bob", email="bob@elsewhere.example", email_verified=True),  # new ones
        token(Role.PARTICIPANT, "nobody", email="n@example.com", email_verified=True),
        token(Role.ADMIN, "support"),
        token(Role.PARTNER, "ticketon-staff", partner="ticketon"),
        token(Role.PARTNER, "mgt-staff", partner="mosgubteatr"),
        token(Role.TICKETING, "ticketing"),
        token(Role.MARKETER, "marketing"),
        None,
        "not-a-token",
    ]
)
program_ids = st.sampled_from([*PROGRAMS, "no-such-program", "x" * 70])
firsts = st.sampled_from([0, 1, 2, 3, 5, 20, 100, 101, -1])
afters = st.one_of(
    st.none(),
    st.none(),
    st.integers(1, 80).map(lambda n: cursor("entry", n)),
    st.sampled_from(["", "not-a-cursor", cursor("campaign", 3), "y" * 300]),
)
cart = st.fixed_dictionaries(
    {
        "programId": program_ids,
        "channel": st.sampled_from(["WEBSITE", "APP", "WIDGET"]),
        "items": st.lists(
            st.fixed_dictionaries(
                {
                    "eventId": st.sampled_from(["e0", "e3", "nope"]),
                    "kind": st.just("TICKET"),
                    "nominal": st.just("3000"),
                }
            ),
            max_size=2,
        ),
        "participantId": st.sampled_from([*PEOPLE, None]),
    }
)
moments = st.sampled_from(["2026-01-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"])

# Each read document's variables; a new query in the registry needs its entry here.
VARIABLES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "Programs": st.just({}),
    "Wallets": st.sampled_from([{}, {}, {}, {"unexpected": 1}]),
    "BonusHistory": st.fixed_dictionaries(
        {"programId": st.sampled_from(PROGRAMS) | program_ids, "first": st.sampled_from([3, 20]) | firsts},
        optional={"after": afters},
    )
    | st.just({"programId": "live-brighter", "first": 5, "extra": True}),
    "MyReferral": st.fixed_dictionaries({"programId": program_ids}),
    "MyAchievements": st.fixed_dictionaries({"programId": program_ids}),
    "QuoteRedemption": st.fixed_dictionaries({"cart": cart}),
    "QuoteForParticipant": st.fixed_dictionaries({"cart": cart}),
    "ReferralLanding": st.fixed_dictionaries({"code": st.sampled_from(["", "NOPE", "ABC123"])}),
    "Participant": st.fixed_dictionaries({"id": st.sampled_from([*PEOPLE, "nobody"])}),
    "ReferralsForReview": st.fixed_dictionaries(
        {"programId": st.sampled_from([*PROGRAMS, None]), "first": firsts, "after": st.none()}
    ),
    "PartnerReport": st.fixed_dictionaries(
        {"partnerId": st.sampled_from([None, "ticketon", "tkt-ge"]), "from": moments, "to": moments}
    ),
    "CheckPromoCode": st.fixed_dictionaries({"code": st.sampled_from(["NOPE", "A1"])}),
    "Order": st.fixed_dictionaries({"id": st.sampled_from(["o0", "o1", "o2", "o5", "nope"])}),
    "PreviewAudience": st.fixed_dictionaries(
        {"programId": program_ids, "audience": st.sampled_from([{"all": True}, {"tier": "Gold"}, {}])}
    ),
    "Campaign": st.fixed_dictionaries({"id": st.sampled_from(["1", "2"])}),
    "Campaigns": st.fixed_dictionaries({"first": firsts, "after": st.none()}),
}

asks = st.lists(
    st.tuples(
        # The planned documents asked more often: their plans are what is on trial.
        st.sampled_from([*sorted(VARIABLES), *sorted(PLANS) * 3]).flatmap(
            lambda name: st.tuples(st.just(name), VARIABLES[name])
        ),
        callers,
        st.sampled_from(MEDIA),
        st.sampled_from(["name", "sha256", "text", "get"]),
    ),
    min_size=len(VARIABLES),
    max_size=2 * len(VARIABLES),
)


def test_every_read_document_of_the_registry_has_variables_here():
    assert set(read_documents()) == set(VARIABLES)


def substantial(answer: dict[str, Any]) -> bool:
    """An answer with something in it: a program, a wallet's next burn, a history entry."""
    data = answer["data"]
    me = data.get("me") or {}
    wallets = me.get("wallets") or []
    history = ((me.get("wallet") or {}).get("history") or {}).get("edges")
    return bool(data.get("programs") or any(w["nextBurn"] or w["pending"] for w in wallets) or history)


async def ask(
    http: httpx.AsyncClient, name: str, variables: dict[str, Any], caller: str | None, media: str | None, how: str
) -> tuple[int, str, Any]:
    if how in ("get", "untrusted-get"):
        headers = {"Authorization": f"Bearer {caller}"} if caller else {}
        if media:
            headers["Accept"] = media
        if how == "get":
            params = {"operationName": name, "variables": json.dumps(variables)}
        else:
            params = {"query": registry()[name].text + "\n", "variables": json.dumps(variables)}
        response = await http.get("/graphql", params=params, headers=headers)
    else:
        response = await post_document(http, name, variables, caller, media, how)
    return response.status_code, response.headers.get("content-type", ""), response.json()


async def test_every_read_document_answers_on_the_fast_path_as_strawberry_does(catalog):
    loop = asyncio.get_running_loop()
    client = Client(LOYALTY_LANDING_RATE="1000000/minute")
    view = next(route.app for route in client.app.routes if getattr(route, "path", None) == "/graphql")
    planned: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    answer = view.answer_planned
    current: list[str] = [""]

    async def counted(request: Any) -> Any:
        response = await answer(request)
        if response is not None:
            planned[current[0]] += 1
            planned[current[0] + " with data"] += substantial(json.loads(response.body))
        return response

    view.answer_planned = counted

    def run(coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()  # type: ignore[arg-type]

    async def example(plan: list[tuple[Any, ...]], questions: list[Any]) -> None:
        await truncate()
        clock.freeze(START)
        await build_ledger(catalog, plan)
        for (name, variables), caller, media, how in questions:
            current[0] = name
            fast = await ask(client.http, name, variables, caller, media, how)
            slow = await ask(
                client.http, name, variables, caller, media, "untrusted-get" if how == "get" else "untrusted"
            )
            assert fast == slow, (name, variables, how)
            compared[name] += 1
        await assert_ledger_invariants()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(joined=joins, plan=steps, questions=asks)
    def differential(joined: list[tuple[Any, ...]], plan: list[tuple[Any, ...]], questions: list[Any]) -> None:
        run(example(joined + plan, questions))

    try:
        await asyncio.to_thread(differential)
    finally:
        await client.http.aclose()
    print(f"compared {sum(compared.values())} answers: {dict(compared)}; by a plan: {dict(planned)}")
    assert set(compared) == set(VARIABLES)
    for name in PLANS:
        assert planned[f"{name} with data"] > 0, f"no {name} was answered by its plan with data in it"
