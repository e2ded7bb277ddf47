"""Structured logs: JSON lines with the request id, operation and role; no personal data in any line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway import logs
from gateway.auth import issue
from loyalty.access import Role
from tests import scenario
from tests.gql import SECRET, Client

PROGRAM = scenario.PROGRAM
EMAIL = "zoe.privatova@example.org"
PHONE = "+7 701 555 0199"
NAME = "Zoé Privatova"
NEW_NAME = "Zoé Anna Privatova"

JOIN = """mutation JoinProgram($input: JoinInput!) {
  joinProgram(input: $input) { participant { id status } wallet { status } }
}"""
UPDATE = (
    "mutation UpdateProfile($input: ProfileInput!) { updateProfile(input: $input) { participant { id displayName } } }"
)
WALLETS = "query Wallets { me { id displayName wallets { active pending } } }"
RECORD = "mutation RecordOrder($input: OrderInput!) { recordOrder(input: $input) { order { id status } } }"
PAY = "mutation PayOrder($id: ID!) { payOrder(id: $id) { order { id status bonusAccrued } } }"
ORDER = "query Order($id: ID!) { order(id: $id) { id } }"
ERASE = "mutation RequestErasure { requestErasure { participant { id status } } }"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the gateway logs, at DEBUG, as production writes it."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("DEBUG", stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    # httpx is the test's own client, not the gateway: its lines are left out.
    found = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in found if not line["logger"].startswith(("httpx", "httpcore"))]


async def test_a_participants_contacts_and_name_appear_in_no_log_line(logged, monkeypatch):
    gql = Client()
    zoe = issue(
        SECRET,
        role=Role.PARTICIPANT,
        sub="zoe",
        email=EMAIL,
        email_verified=True,
        phone_number=PHONE,
        phone_number_verified=True,
    )
    ticketing = issue(SECRET, role=Role.TICKETING, sub="ticketon")
    admin = issue(SECRET, role=Role.ADMIN, sub="support")
    joined = await gql(
        JOIN,
        {
            "input": {
                "programId": PROGRAM,
                "acceptRules": True,
                "personalDataConsent": True,
                "marketingConsent": True,
                "displayName": NAME,
            }
        },
        zoe,
    )
    assert joined["data"]["joinProgram"]["wallet"]["status"] == "ACTIVE"
    assert (await gql(UPDATE, {"input": {"displayName": NEW_NAME}}, zoe))["data"]["updateProfile"]["participant"][
        "displayName"
    ] == NEW_NAME
    # Wrong input echoes the value back to the client; strawberry would have logged it.
    echoed = await gql(UPDATE, {"input": {"birthDate": EMAIL}}, zoe)
    assert echoed["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    await scenario.event("e1", "concert")
    order = {
        "id": "o1",
        "participantId": "zoe",
        "programId": PROGRAM,
        "channel": "WEBSITE",
        "items": [{"id": "t1", "eventId": "e1", "kind": "TICKET", "nominal": "1000.00"}],
    }
    assert "errors" not in await gql(RECORD, {"input": order}, ticketing)
    assert (await gql(PAY, {"id": "o1"}, ticketing))["data"]["payOrder"]["order"]["bonusAccrued"] == 50
    assert (await gql(WALLETS, token=zoe))["data"]["me"]["displayName"] == NEW_NAME

    # An unexpected error whose text carries the contacts: masked for the client, scrubbed in the log.
    from loyalty import orders

    async def boom(*args, **kwargs):
        raise RuntimeError(f"lookup failed for {EMAIL} / {PHONE}")

    monkeypatch.setattr(orders, "get_order", boom)
    masked = await gql(ORDER, {"id": "o1"}, admin)
    monkeypatch.undo()
    error_id = masked["errors"][0]["extensions"]["errorId"]

    erased = await gql(ERASE, token=zoe)
    assert erased["data"]["requestErasure"]["participant"]["status"] == "ERASED"
    await gql.http.aclose()

    written = lines(logged)
    text = logged.getvalue()
    for secret in (EMAIL, PHONE, PHONE.replace(" ", ""), NAME, NEW_NAME, "Privatova"):
        assert secret not in text, secret
    assert written, "the flow logged nothing"
    # The gateway's own lines, less the app's start-up (the registry's summary), which
    # happens outside any request; other tests' leftovers (asyncio's) may land here too.
    in_requests = [
        line
        for line in written
        if line["logger"].startswith("loyalty") and not line["message"].startswith("trusted documents")
    ]
    assert all(line.get("request_id") for line in in_requests), [ln for ln in in_requests if not ln.get("request_id")]
    done = [line for line in written if line["message"] == "request done"]
    assert [line["operation"] for line in done] == [
        "JoinProgram",
        "UpdateProfile",
        "UpdateProfile",
        "RecordOrder",
        "PayOrder",
        "Wallets",
        "Order",
        "RequestErasure",
    ]
    # The role is the token's once a resolver reads it; a refused document never does.
    assert [line["role"] for line in done] == [
        "participant",
        "participant",
        None,
        "ticketing",
        "ticketing",
        "participant",
        "admin",
        "participant",
    ]
    assert [line["outcome"] for line in done][2] == "BAD_INPUT"
    failure = next(line for line in in_requests if line["level"] == "ERROR")
    assert failure["error_id"] == error_id and failure["operation"] == "Order"
    assert "<email>" in failure["exc_info"] and "RuntimeError" in failure["exc_info"]


async def test_the_request_id_is_the_clients_when_sane_and_returned(logged):
    gql = Client()
    body = {"query": "query Programs { programs { id } }"}
    sent = await gql.http.post("/graphql", json=body, headers={"X-Request-ID": "checkout-7f3a.2"})
    made = await gql.http.post("/graphql", json=body, headers={"X-Request-ID": "bad id\twith spaces"})
    long = await gql.http.post("/graphql", json=body, headers={"X-Request-ID": "x" * 129})
    none = await gql.http.post("/graphql", json=body)
    health = await gql.http.get("/healthz", headers={"X-Request-ID": "probe-1"})
    await gql.http.aclose()
    assert sent.headers["x-request-id"] == "checkout-7f3a.2"
    for response in (made, long, none):
        generated = response.headers["x-request-id"]
        assert len(generated) == 32 and int(generated, 16) >= 0
    assert len({made.headers["x-request-id"], long.headers["x-request-id"], none.headers["x-request-id"]}) == 3
    assert health.headers["x-request-id"] == "probe-1"
    written = lines(logged)
    line = next(line for line in written if line.get("request_id") == "checkout-7f3a.2")
    assert (line["message"], line["operation"], line["role"], line["outcome"], line["status"]) == (
        "request done",
        "Programs",
        None,  # no token was read: Programs needs none
        "ok",
        200,
    )
    assert set(line) >= {"time", "level", "logger", "message", "request_id", "operation", "role"}
    probe = next(line for line in written if line.get("request_id") == "probe-1")
    assert probe["level"] == "DEBUG" and probe["path"] == "/healthz"


def test_only_listed_fields_reach_a_line_and_driver_debug_lines_are_dropped():
    buffer = io.StringIO()
    handler = logs.handler(buffer)
    record = logging.LogRecord("loyalty.x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    record.email = EMAIL  # an extra nobody listed
    record.status = 200
    handler.handle(record)
    sql = logging.LogRecord("tortoise.db_client", logging.DEBUG, __file__, 1, "%s: %s", ("INSERT", [EMAIL]), None)
    handler.handle(sql)
    line = json.loads(buffer.getvalue())
    assert line["message"] == "hello there" and line["status"] == 200 and "email" not in line
    assert EMAIL not in buffer.getvalue()


def test_strawberry_logs_no_client_error_and_the_gateway_logs_what_execution_never_saw(caplog):
    from types import SimpleNamespace

    from graphql import GraphQLError

    from schema import schema

    echoed = GraphQLError(f"Variable '$input' got invalid value '{EMAIL}'")
    crashed = GraphQLError("boom", original_error=RuntimeError("an extension broke"))
    with caplog.at_level(logging.DEBUG):
        schema.process_errors([echoed], SimpleNamespace(result=None))  # the client's: not logged
        schema.process_errors([crashed], SimpleNamespace(result=object()))  # ContractErrors logs these
        assert caplog.records == []
        schema.process_errors([crashed], SimpleNamespace(result=None))  # raised outside execution
    assert [record.getMessage() for record in caplog.records] == ["unexpected error outside execution: RuntimeError"]
