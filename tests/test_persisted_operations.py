"""Persisted operations over HTTP: a client names a trusted document by hash or by name."""

from __future__ import annotations

import json

import pytest

from loyalty.access import Role
from schema.registry import sha256_of
from tests.gql import Client, error_code, participant_token, registry, token

PROGRAM = "live-brighter"
JOIN = {"input": {"programId": PROGRAM, "acceptRules": True, "personalDataConsent": True, "marketingConsent": True}}


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


def apq(digest: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_the_app_loads_the_registry_once_at_start_up(gql):
    assert gql.app.state.registry is Client().app.state.registry
    assert set(gql.app.state.registry) == set(registry())
    assert gql.app.state.registry["Wallets"].sha256 == registry()["Wallets"].sha256


async def test_a_document_sent_by_hash_or_by_name_answers_as_its_text(gql):
    ann = participant_token("ann")
    joined = await gql.persisted("JoinProgram", JOIN, ann)
    assert joined["data"]["joinProgram"]["wallet"] == {"program": {"id": PROGRAM}, "status": "ACTIVE"}
    as_text = await gql.op("Wallets", token=ann)
    assert as_text["data"]["me"]["id"] == "ann"
    assert await gql.persisted("Wallets", token=ann) == as_text
    assert await gql.persisted("Wallets", token=ann, by="name") == as_text
    history = {"programId": PROGRAM, "first": 5}
    assert await gql.persisted("BonusHistory", history, ann) == await gql.op("BonusHistory", history, ann)


async def test_a_persisted_operation_keeps_the_role_checks(gql):
    assert error_code(await gql.persisted("Wallets")) == "UNAUTHENTICATED"
    assert error_code(await gql.persisted("PayOrder", {"id": "o1"}, participant_token("ann"))) == "FORBIDDEN"
    assert error_code(await gql.persisted("PayOrder", {"id": "o1"}, token(Role.TICKETING))) == "NOT_FOUND"


async def test_an_unknown_hash_or_name_is_persisted_query_not_found(gql):
    unknown = await gql.post({"extensions": apq("0" * 64)})
    assert unknown == {
        "data": None,
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}],
    }
    assert error_code(await gql.post({"operationName": "NoSuchOperation"})) == "PERSISTED_QUERY_NOT_FOUND"


async def test_the_referral_landing_runs_as_a_persisted_operation_without_a_token(gql):
    # Every trusted document is served since the referral issue (tests/test_contract.py NOT_SERVED).
    assert registry()["ReferralLanding"].served
    for by in ("sha256", "name"):
        answer = await gql.persisted("ReferralLanding", {"code": "ABCDEFGHJKLM"}, by=by)
        assert answer["data"]["referralLanding"]["valid"] is False, answer


async def test_a_query_with_its_hash_runs_as_sent_and_a_wrong_hash_is_refused(gql):
    # Apollo's second step sends the text with the hash; any query runs, trusted or not.
    text = "query Names { programs { id } }"
    ran = await gql.post({"query": text, "extensions": apq(sha256_of(text))})
    assert ran["data"]["programs"][0]["id"] == PROGRAM
    wrong = await gql.post({"query": text, "extensions": apq(registry()["Programs"].sha256)})
    assert error_code(wrong) == "BAD_INPUT"
    assert error_code(await gql.post({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "x"}}})) == (
        "BAD_INPUT"
    )


async def test_arbitrary_queries_keep_working(gql):
    result = await gql("{ programs { id name } }")
    assert result["data"]["programs"][0] == {"id": PROGRAM, "name": "«Live Brighter!»"}


async def test_a_persisted_query_may_come_over_get_and_a_persisted_mutation_may_not(gql):
    programs = {"extensions": json.dumps(apq(registry()["Programs"].sha256))}
    answered = await gql.http.get("/graphql", params=programs)
    assert answered.status_code == 200 and answered.json()["data"]["programs"][0]["id"] == PROGRAM
    pay = {"extensions": json.dumps(apq(registry()["PayOrder"].sha256)), "variables": json.dumps({"id": "o1"})}
    assert (await gql.http.get("/graphql", params=pay)).status_code == 405


async def test_not_found_answers_400_without_data_under_the_graphql_response_media_type(gql):
    response = await gql.http.post(
        "/graphql", json={"extensions": apq("0" * 64)}, headers={"Accept": "application/graphql-response+json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }
