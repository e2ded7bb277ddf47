"""LB-16 erasure through the API: a keyed pseudonym, `me` after erasure, support's erasure,
no personal data left anywhere, and what a partner sees of a participant (seed 001, 3.2).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import secrets
from datetime import date, timedelta
from typing import Any

import pytest
from tortoise import connections

from gateway.logs import PersonalDataFilter
from gateway.logs import handler as log_handler
from loyalty import clock
from loyalty.access import Role
from loyalty.models import Participant, StatusChange
from tests.conftest import tables
from tests.gql import Client, error_code, participant_token, token

PROGRAM = "live-brighter"
TICKETING = token(Role.TICKETING, "ticketon")
ADMIN = token(Role.ADMIN, "support-desk")
MARKETER = token(Role.MARKETER, "marketing")
PARTNER = token(Role.PARTNER, "ticketon-staff", partner="ticketon")  # owns live-brighter
REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL")

ERASE = """
mutation EraseParticipant($id: ID!, $reason: String!) {
  eraseParticipant(id: $id, reason: $reason) {
    participant { id status displayName marketingConsent wallets { program { id } status } }
  }
}
"""
ME = "{ me { id status displayName marketingConsent wallets { program { id } status active pending debt } } }"
LOOKUP = """
query Lookup($id: ID!) {
  participant(id: $id) { id status displayName marketingConsent wallets { program { id } status } }
}
"""


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


def join_input(program: str = PROGRAM, **more: Any) -> dict[str, Any]:
    return {
        "input": {
            "programId": program,
            "acceptRules": True,
            "personalDataConsent": True,
            "marketingConsent": True,
            **more,
        }
    }


async def joined(gql: Client, who: str, program: str = PROGRAM, **more: Any) -> None:
    answer = await gql.op("JoinProgram", join_input(program, **more), participant_token(who))
    assert "errors" not in answer, answer


async def event(gql: Client, event_id: str, starts_in: timedelta) -> None:
    starts = (clock.now() + starts_in).isoformat()
    answer = await gql.op(
        "UpsertEvent",
        {"input": {"id": event_id, "title": event_id, "category": "concert", "startsAt": starts, "organizerId": "org"}},
        TICKETING,
    )
    assert "errors" not in answer, answer


async def bought(gql: Client, order_id: str, who: str, nominal: str = "10000.00") -> None:
    order = {
        "id": order_id,
        "participantId": who,
        "programId": PROGRAM,
        "channel": "APP",
        "items": [{"id": f"{order_id}-t1", "eventId": "e1", "kind": "TICKET", "nominal": nominal}],
    }
    for answer in (
        await gql.op("RecordOrder", {"input": order}, TICKETING),
        await gql.op("PayOrder", {"id": order_id}, TICKETING),
    ):
        assert "errors" not in answer, answer


async def rows_of_every_table() -> list[tuple[str, dict[str, Any]]]:
    """Every row of every table of the domain's models, as the database holds it."""
    conn = connections.get("default")
    found: list[tuple[str, dict[str, Any]]] = []
    for table in tables():
        found += [(table, dict(row)) for row in await conn.execute_query_dict(f"SELECT * FROM {table}")]
    return found


def found_in(texts: list[tuple[str, str]], needles: dict[str, str]) -> list[str]:
    """Where each needle occurs, case-insensitively: "<what> in <where>"."""
    return [
        f"{what} {needle!r} in {where}: {text[:200]!r}"
        for where, text in texts
        for what, needle in needles.items()
        if needle.lower() in text.lower()
    ]


# ---------------------------------------------------------------- the pseudonym's key


async def test_lb16_pseudonym_is_keyed_with_the_settings_secret(gql):
    await joined(gql, "ann")
    erased = await gql.op("RequestErasure", token=participant_token("ann"))
    assert erased["data"]["requestErasure"]["participant"]["status"] == "ERASED"
    # Anyone with the code and a list of customer ids could compute a digest under a constant key
    guessable = hmac.new(b"loyalty-erasure", b"ann", hashlib.sha256).hexdigest()
    texts = [(table, str(value)) for table, row in await rows_of_every_table() for value in row.values()]
    assert found_in(texts, {"constant-key digest": guessable, "customer id": "ann"}) == []
    # The settings' key makes it: another gateway with another key cannot tell who it was
    other = Client(settings={"LOYALTY_ERASURE_KEY": secrets.token_urlsafe(32)})
    try:
        assert (await other(ME, token=participant_token("ann")))["data"]["me"] is None
    finally:
        await other.http.aclose()
    assert (await gql(ME, token=participant_token("ann")))["data"]["me"]["status"] == "ERASED"


# ---------------------------------------------------------------- me after erasure


async def test_lb16_me_after_erasure_is_erased_with_no_personal_data(gql):
    await joined(gql, "ann", displayName="Ann Lee", birthDate="1990-05-17")
    await event(gql, "e1", timedelta(hours=-1))
    await bought(gql, "o1", "ann")  # 10,000 x 5 % = 500 active, and First ticket's 100 (GA-04)
    erased = await gql.op("RequestErasure", token=participant_token("ann"))
    pseudonym = erased["data"]["requestErasure"]["participant"]["id"]
    me = await gql(ME, token=participant_token("ann"))
    assert me == {
        "data": {
            "me": {
                "id": pseudonym,
                "status": "ERASED",
                "displayName": None,
                "marketingConsent": False,
                "wallets": [{"program": {"id": PROGRAM}, "status": "BLOCKED", "active": 600, "pending": 0, "debt": 0}],
            }
        }
    }
    # The token's contacts are not taken back in (it still carries ann@example.com)
    row = await Participant.get()
    assert (row.email, row.phone, row.display_name, row.birth_date) == (None, None, None, None)
    # The mobile flow's other reads answer the erased participant, and writes are refused (LB-16)
    history = await gql.op("BonusHistory", {"programId": PROGRAM, "first": 5}, participant_token("ann"))
    assert [edge["node"]["amount"] for edge in history["data"]["me"]["wallet"]["history"]["edges"]] == [100, 500]
    profile = await gql.op("UpdateProfile", {"input": {"displayName": "Ann"}}, participant_token("ann"))
    assert (error_code(profile), profile["errors"][0]["extensions"].get("rule")) == ("RULE", "LB-16")
    rejoin = await gql.op("JoinProgram", join_input(), participant_token("ann"))
    assert (error_code(rejoin), rejoin["errors"][0]["extensions"].get("rule")) == ("RULE", "LB-16")
    assert await Participant.all().count() == 1


# ---------------------------------------------------------------- support erases on request


async def test_lb16_support_erases_on_the_participants_request(gql):
    await joined(gql, "ann", displayName="Ann Lee")
    await gql.op("JoinProgram", join_input("tkt-ge", birthDate="1990-05-17"), participant_token("ann"))
    reason = "ticket 4711: asked by phone to erase the account"
    first = await gql(ERASE, {"id": "ann", "reason": reason}, ADMIN)
    participant = first["data"]["eraseParticipant"]["participant"]
    assert participant["id"] != "ann"
    assert (participant["status"], participant["displayName"], participant["marketingConsent"]) == (
        "ERASED",
        None,
        False,
    )
    assert [w["status"] for w in participant["wallets"]] == ["BLOCKED", "BLOCKED"]
    assert await gql(ERASE, {"id": "ann", "reason": reason}, ADMIN) == first  # asking twice: the same
    assert (await gql(ME, token=participant_token("ann")))["data"]["me"]["id"] == participant["id"]
    assert await gql.op("RequestErasure", token=participant_token("ann")) == {
        "data": {"requestErasure": {"participant": {"id": participant["id"], "status": "ERASED"}}}
    }
    change = await StatusChange.get(action="erase")
    assert (change.reason, change.actor, change.program_id) == (reason, "support-desk", None)


async def test_lb16_support_erasure_refusals(gql):
    await joined(gql, "ann")
    refused = [
        ({"id": "nobody", "reason": "asked"}, ADMIN, "NOT_FOUND"),
        ({"id": "ann", "reason": "  "}, ADMIN, "BAD_INPUT"),
        ({"id": "ann", "reason": "asked"}, PARTNER, "FORBIDDEN"),
        ({"id": "ann", "reason": "asked"}, TICKETING, "FORBIDDEN"),
        ({"id": "ann", "reason": "asked"}, MARKETER, "FORBIDDEN"),
        ({"id": "ann", "reason": "asked"}, participant_token("ann"), "FORBIDDEN"),
        ({"id": "ann", "reason": "asked"}, None, "UNAUTHENTICATED"),
    ]
    for variables, who, code in refused:
        assert error_code(await gql(ERASE, variables, who)) == code, (variables, code)
    assert (await Participant.get()).status == "ACTIVE"


# ---------------------------------------------------------------- nothing personal left anywhere


class Captured(logging.Handler):
    """Every record of the whole flow at DEBUG that the gateway's log handler lets through,
    formatted plainly: stricter than the log itself, which also masks e-mails and phones."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        # The database drivers' DEBUG lines hold every SQL parameter by design; the log drops them.
        self.addFilter(PersonalDataFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((f"log {record.name}", self.format(record)))


async def queued_texts(client: Client) -> list[tuple[str, str]]:
    """What the job queue holds: every arq key and value in Redis, or the in-process queue's jobs."""
    queue = client.app.state.queue
    if not hasattr(queue, "pool"):
        waiting = list(queue._queue._queue) if queue._queue is not None else []
        return [("in-process job", repr(job)) for job in [*queue._pending, *waiting]]
    pool = await queue.pool()
    texts = []
    async for key in pool.scan_iter(match="*", count=1000):
        name = key.decode()
        if not (name.startswith("arq:") or name.startswith(queue.queue_name)):
            continue
        kind = (await pool.type(key)).decode()
        if kind == "string":
            value: Any = await pool.get(key)
        elif kind == "zset":
            value = await pool.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            value = await pool.hgetall(key)
        elif kind == "list":
            value = await pool.lrange(key, 0, -1)
        else:
            value = await pool.smembers(key)
        texts.append((f"redis {name}", f"{name} {value!r}"))
    return texts


async def redis_up() -> bool:
    if not REDIS_URL:
        return False
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.mark.parametrize("jobs", ["in-process", "arq"])
async def test_lb16_erased_contacts_and_name_are_in_no_table_log_or_queued_job(jobs):
    if jobs == "arq" and not await redis_up():
        pytest.skip("no Redis: set LOYALTY_TEST_REDIS_URL (never db 0)")
    queue_name = f"loyalty-test-erasure:{secrets.token_hex(6)}"
    gql = Client(redis_url=REDIS_URL if jobs == "arq" else None, settings={"LOYALTY_QUEUE": queue_name})
    log, written = Captured(), io.StringIO()
    json_log = log_handler(written)  # the JSON lines the gateway writes
    json_log.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(log)
    root.addHandler(json_log)
    root.setLevel(logging.DEBUG)
    email, phone, customer = "ann.lee@example.com", "+77011234567", "ann-4711"
    needles = {"e-mail": email, "phone": phone, "phone digits": phone[1:], "name": "Ann Lee", "new name": "Annabel Lee"}
    ann = token(
        Role.PARTICIPANT,
        customer,
        email=email,
        email_verified=True,
        phone_number=phone,
        phone_number_verified=True,
    )
    try:
        # Everywhere the flow can put them: the participant, their orders, a campaign for them
        for program, more in ((PROGRAM, {}), ("tkt-ge", {"birthDate": date(1990, 5, 17).isoformat()})):
            answer = await gql.op("JoinProgram", join_input(program, displayName="Ann Lee", **more), ann)
            assert "errors" not in answer, answer
        assert "errors" not in await gql.op("UpdateProfile", {"input": {"displayName": "Annabel Lee"}}, ann)
        await event(gql, "e1", timedelta(days=3))
        await bought(gql, "o1", customer)
        await bought(gql, "o2", customer, "3000.00")
        audience = {"participantIds": [customer]}
        preview = await gql.op("PreviewAudience", {"programId": PROGRAM, "audience": audience}, MARKETER)
        assert preview["data"]["previewAudience"]["count"] == 1
        created = await gql.op(
            "CreateGiftCampaign",
            {
                "input": {
                    "name": "Spring gift",
                    "programId": PROGRAM,
                    "amount": 100,
                    "audience": audience,
                    "validDays": 30,
                    "message": "A gift for you",
                }
            },
            MARKETER,
        )
        campaign_id = created["data"]["createGiftCampaign"]["campaign"]["id"]
        assert "errors" not in await gql.op("LaunchCampaign", {"id": campaign_id}, MARKETER)
        if jobs == "in-process":
            await gql.app.state.queue.drain()
        seen = await gql(ME, token=ann)
        assert seen["data"]["me"]["displayName"] == "Annabel Lee"
        # ... and then the participant asks for erasure
        erased = await gql.op("RequestErasure", token=ann)
        assert erased["data"]["requestErasure"]["participant"]["status"] == "ERASED"
        assert (await gql(ME, token=ann))["data"]["me"]["status"] == "ERASED"
        queued = await queued_texts(gql)
        assert jobs == "in-process" or any("grant_batch" in text for _, text in queued)  # the campaign's job waits
        if jobs == "arq":
            queued += await ran_by_a_worker(gql)
    finally:
        root.removeHandler(log)
        root.removeHandler(json_log)
        root.setLevel(level)
        if jobs == "arq":
            await forget_queue(gql)
        await gql.http.aclose()
    stored = [(f"table {table}", str(value)) for table, row in await rows_of_every_table() for value in row.values()]
    assert log.lines and written.getvalue(), "the flow logged nothing: the log capture is broken"
    assert found_in(stored + queued, {**needles, "customer id": customer}) == []
    assert found_in(log.lines, needles) == []
    assert found_in([("JSON log", line) for line in written.getvalue().splitlines()], needles) == []


async def ran_by_a_worker(gql: Client) -> list[tuple[str, str]]:
    """Run the waiting jobs with an in-process arq worker that keeps results; then what Redis holds."""
    from arq.worker import Worker

    from workers import worker
    from workers.queue import deserialize, serialize

    queue = gql.app.state.queue
    runner = Worker(
        functions=worker.functions(),
        queue_name=queue.queue_name,
        redis_pool=await queue.pool(),
        burst=True,
        poll_delay=0.01,
        keep_result=600,
        job_serializer=serialize,
        job_deserializer=deserialize,
        handle_signals=False,
        ctx={"queue": queue},
    )
    await runner.main()
    assert runner.jobs_complete >= 1
    return await queued_texts(gql)


async def forget_queue(gql: Client) -> None:
    queue = gql.app.state.queue
    pool = await queue.pool()
    from loyalty.models import Campaign

    keys = [queue.queue_name, f"{queue.queue_name}:health-check"]
    for campaign_token in await Campaign.all().values_list("token", flat=True):
        keys += [key async for key in pool.scan_iter(match=f"arq:*{campaign_token}*", count=1000)]
    await pool.delete(*keys)


# ---------------------------------------------------------------- what a partner sees (seed 001, 3.2)


async def test_mg13_partner_sees_a_participant_only_through_its_programs_wallets(gql):
    await joined(gql, "ann", displayName="Ann Lee")
    await joined(gql, "ann", "tkt-ge", birthDate="1990-05-17")  # tkt-ge is another partner's
    await joined(gql, "bob", "tkt-ge", displayName="Bob", birthDate="1990-05-17")
    ann = (await gql(LOOKUP, {"id": "ann"}, PARTNER))["data"]["participant"]
    assert ann == {
        "id": "ann",
        "status": "ACTIVE",
        "displayName": None,  # no personal data to third parties
        "marketingConsent": True,
        "wallets": [{"program": {"id": PROGRAM}, "status": "ACTIVE"}],
    }
    # Bob has no wallet in ticketon's programs: the same answer as for nobody at all
    assert await gql(LOOKUP, {"id": "bob"}, PARTNER) == await gql(LOOKUP, {"id": "nobody"}, PARTNER)
    assert await gql(LOOKUP, {"id": "bob"}, PARTNER) == {"data": {"participant": None}}
    # Support sees the name and every wallet
    full = (await gql(LOOKUP, {"id": "ann"}, ADMIN))["data"]["participant"]
    assert (full["displayName"], len(full["wallets"])) == ("Ann Lee", 2)


async def test_mg13_partner_staff_answers_carry_no_personal_data(gql):
    await joined(gql, "ann", displayName="Ann Lee")
    fields = "participant { id displayName wallets { program { id } status } }"
    for mutation in ("blockParticipant", "unblockParticipant"):
        answer = await gql(
            f'mutation {{ {mutation}(id: "ann", programId: "{PROGRAM}", reason: "checked") {{ {fields} }} }}',
            token=PARTNER,
        )
        assert answer["data"][mutation]["participant"]["displayName"] is None, answer


async def test_mg13_partner_errors_do_not_tell_whether_a_participant_exists(gql):
    await joined(gql, "bob", "tkt-ge", displayName="Bob", birthDate="1990-05-17")  # no wallet of ticketon's
    for who in ("bob", "nobody"):
        results = [
            await gql(
                f'mutation {{ blockParticipant(id: "{who}", programId: "{PROGRAM}", reason: "r") {{ participant {{ id }} }} }}',
                token=PARTNER,
            ),
            await gql.op(
                "AdjustBonus",
                {"input": {"participantId": who, "programId": PROGRAM, "amount": 5, "reason": "r"}},
                PARTNER,
            ),
        ]
        messages = [(error_code(r), r["errors"][0]["message"].replace(who, "<id>")) for r in results]
        if who == "bob":
            bob_messages = messages
        else:
            assert messages == bob_messages
            assert {code for code, _ in messages} == {"NOT_FOUND"}


async def test_mg13_partner_cannot_find_an_erased_participant_by_their_former_id(gql):
    await joined(gql, "ann", displayName="Ann Lee")
    erased = await gql.op("RequestErasure", token=participant_token("ann"))
    pseudonym = erased["data"]["requestErasure"]["participant"]["id"]
    assert await gql(LOOKUP, {"id": "ann"}, PARTNER) == {"data": {"participant": None}}
    by_pseudonym = (await gql(LOOKUP, {"id": pseudonym}, PARTNER))["data"]["participant"]
    assert (by_pseudonym["status"], by_pseudonym["displayName"]) == ("ERASED", None)
    # Support, who erases on request, still finds the erased record by the id it had
    assert (await gql(LOOKUP, {"id": "ann"}, ADMIN))["data"]["participant"]["id"] == pseudonym
