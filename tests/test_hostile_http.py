"""Hostile input at the door: a capped request body, a depth limit that counts
introspection, and production defaults with GraphiQL and introspection off (issue 10,
items 9 and 10)."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from gateway.cli import server
from gateway.demo import DemoData
from gateway.settings import Settings
from loyalty.access import Role
from tests.gql import Client, error_code, token
from tests.scenario import PROGRAM, join

MARKETER = token(Role.MARKETER, "marketing")
PREVIEW = "query($p: ID!, $a: AudienceInput!) { previewAudience(programId: $p, audience: $a) { count } }"


def of_type_chain(levels: int) -> str:
    """`{ __type(name: "Query") { ofType { ofType ... { name } } } }`, `levels` deep."""
    return '{ __type(name: "Query") { ' + "ofType { " * levels + "name" + " }" * levels + " } }"


async def _post(client: Client, body: bytes | Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MARKETER}", **(headers or {})},
    )


# ---------------------------------------------------------------------------- body cap


async def test_a_100000_id_audience_fits_the_body_cap(catalog: Any) -> None:
    await join(catalog, "customer-0000001")
    ids = ["customer-0000001", *(f"customer-{n:07d}" for n in range(2, 100_001))]
    client = Client()
    result = await client(PREVIEW, {"p": PROGRAM, "a": {"participantIds": ids}}, token=MARKETER)
    assert result == {"data": {"previewAudience": {"count": 1}}}


async def test_a_5_mib_body_answers_413_with_a_json_error() -> None:
    client = Client()
    filler = "x" * (5 * 1024 * 1024)
    response = await client.http.post(
        "/graphql", json={"query": "{ programs { id } }", "variables": {"filler": filler}}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


async def test_a_streamed_body_is_counted_without_content_length() -> None:
    client = Client(LOYALTY_MAX_BODY_BYTES=1000)

    async def chunks() -> Any:
        yield b'{"query": "{ programs { id } }", "variables": {"filler": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}}'

    response = await _post(client, chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_a_body_under_the_cap_is_served() -> None:
    client = Client(LOYALTY_MAX_BODY_BYTES=1000)
    response = await _post(client, b'{"query": "{ programs { id } }"}')
    assert response.status_code == 200
    assert "programs" in response.json()["data"]


# ---------------------------------------------------------------------------- depth


async def test_a_25_level_of_type_chain_is_refused() -> None:
    client = Client(LOYALTY_INTROSPECTION=True)
    result = await client(of_type_chain(25))
    assert result["data"] is None
    assert "exceeds maximum operation depth" in result["errors"][0]["message"]
    assert result["errors"][0]["extensions"]["code"] == "BAD_INPUT"


async def test_the_standard_introspection_query_passes_where_introspection_is_on() -> None:
    client = Client(LOYALTY_INTROSPECTION=True)
    result = await client(get_introspection_query(descriptions=True))
    assert "errors" not in result, result.get("errors")
    assert result["data"]["__schema"]["queryType"]["name"] == "Query"


# ---------------------------------------------------------------------------- defaults


def test_graphiql_and_introspection_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOYALTY_GRAPHIQL", raising=False)
    monkeypatch.delenv("LOYALTY_INTROSPECTION", raising=False)
    settings = Settings()
    assert (settings.graphiql, settings.introspection) == (False, False)


async def test_a_default_gateway_serves_no_graphiql_and_refuses_introspection() -> None:
    client = Client()
    page = await client.http.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in page.text.lower()
    result = await client("{ __schema { queryType { name } } }")
    assert "introspection" in result["errors"][0]["message"].lower()


def test_loyalty_demo_turns_graphiql_and_introspection_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("LOYALTY_GRAPHIQL", "LOYALTY_INTROSPECTION", "DATABASE_URL", "LOYALTY_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    seen: dict[str, bool] = {}

    async def prepared(url: str, plugins: str, erasure_key: str) -> tuple[Any, DemoData]:
        from plugins.manager import build
        from tests.conftest import ROOT

        return build(ROOT / "plugins.toml"), DemoData(program_id=PROGRAM)

    def serve(host: str, port: int, reload: bool = False) -> None:
        settings = Settings()  # what the app reads when uvicorn imports it
        seen.update(graphiql=settings.graphiql, introspection=settings.introspection)

    monkeypatch.setattr(server, "prepare_demo", prepared)
    monkeypatch.setattr(server, "_uvicorn", serve)
    monkeypatch.setenv("LOYALTY_PLUGINS", str(__import__("tests.conftest").conftest.ROOT / "plugins.toml"))
    try:
        server.demo(port=0, host="127.0.0.1", database=tmp_path / "demo.sqlite3")
    finally:
        for name in (
            "DATABASE_URL",
            "LOYALTY_JWT_SECRET",
            "LOYALTY_ERASURE_KEY",
            "LOYALTY_GRAPHIQL",
            "LOYALTY_INTROSPECTION",
        ):
            os.environ.pop(name, None)
    assert seen == {"graphiql": True, "introspection": True}


# ---------------------------------------------------------------------------- the fuzzer's finds

SIBLINGS = (
    '{ participant(id: "c1") { wallets { tier history(first: -1) { edges { cursor } } }'
    ' wallet(programId: "tkt-ge") { tier } } }'
)


async def test_a_failing_field_beside_a_shared_dataloader_key_answers_its_error_not_a_500(catalog: Any) -> None:
    """`wallets { tier }` and `wallet(programId) { tier }` wait for the same tier; the history's
    BAD_INPUT makes graphql-core cancel the wallets' siblings, which cancelled the shared
    future under the other field (a 500 with CancelledError before the loaders' shield)."""
    await join(catalog, "c1", "tkt-ge", birth_date=date(1990, 1, 1))
    await join(catalog, "c1", "mgt-plus")
    response = await Client().http.post(
        "/graphql", json={"query": SIBLINGS}, headers={"Authorization": f"Bearer {token(Role.ADMIN, 'support')}"}
    )
    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_INPUT"]


@pytest.mark.parametrize("days", [0, 36_601, 2_147_483_646])
async def test_a_validity_past_a_hundred_years_is_bad_input_not_an_overflow(catalog: Any, days: int) -> None:
    await join(catalog, "c1")
    adjust = "mutation($i: AdjustmentInput!) { adjustBonus(input: $i) { entry { kind } } }"
    given = {"participantId": "c1", "programId": PROGRAM, "amount": 10, "reason": "goodwill", "validDays": days}
    assert error_code(await Client()(adjust, {"i": given}, token=token(Role.ADMIN, "support"))) == "BAD_INPUT"
    campaign = {"name": "x", "programId": PROGRAM, "amount": 10, "audience": {"all": True}, "validDays": days}
    created = await Client().op("CreateGiftCampaign", {"input": campaign}, token=MARKETER)
    assert error_code(created) == "BAD_INPUT"
