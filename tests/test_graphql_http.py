"""GraphQL over HTTP: media types, status codes and GET, as the spec and its audit want.

`.ci/run` runs the graphql-http audit itself against a live gateway; these are its key
points without node, and what existing `application/json` clients rely on.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.graphql_http import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    failed_before_execution,
    failure_status,
    response_media_type,
)
from tests.gql import Client

PARSE_ERROR = "{ __typename"
VALIDATION_ERROR = "{ noSuchField }"
VARIABLE_ERROR = ("query Type($name: String!) { __type(name: $name) { name } }", {"name": 1})
# A non-null root field that needs a token: execution ran, and nulled the whole result.
FIELD_ERROR = "{ campaigns { __typename } }"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("text/html", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),  # Apollo, GraphiQL
        (f"application/json, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, */*", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=oops", JSON),
    ],
)
def test_the_media_type_is_negotiated_from_accept(accept: str | None, media_type: str) -> None:
    assert response_media_type(accept) == media_type


def test_only_a_result_without_data_or_field_errors_failed_before_execution() -> None:
    bad_input = {"message": "m", "extensions": {"code": "BAD_INPUT"}}
    on_a_field = {"message": "m", "path": ["campaigns"], "extensions": {"code": "UNAUTHENTICATED"}}
    assert failed_before_execution({"data": None, "errors": [bad_input]})
    assert not failed_before_execution({"data": None, "errors": [on_a_field]})
    assert not failed_before_execution({"data": {"me": None}, "errors": [on_a_field]})
    assert not failed_before_execution({"data": None})
    assert failure_status({"errors": [bad_input]}) == 400
    assert failure_status({"errors": [{"message": "m", "extensions": {"code": "INTERNAL"}}]}) == 500
    assert failure_status({"errors": [{"message": "m", "extensions": {"code": "UNAVAILABLE"}}]}) == 500


@pytest.fixture
async def http() -> Any:
    # As `loyalty demo` runs for the graphql-http audit: GraphiQL and introspection on.
    client = Client(LOYALTY_GRAPHIQL=True, LOYALTY_INTROSPECTION=True)
    try:
        yield client.http
    finally:
        await client.http.aclose()


async def post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, accept: str | None = None
) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    return await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_graphql_response_json_is_answered_when_asked_for(http: httpx.AsyncClient) -> None:
    response = await post(http, "{ __typename }", accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", [None, "*/*", JSON])
async def test_application_json_is_the_default(http: httpx.AsyncClient, accept: str | None) -> None:
    response = await post(http, "{ __typename }", accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("query", "variables"),
    [(PARSE_ERROR, None), (VALIDATION_ERROR, None), VARIABLE_ERROR],
    ids=["parse", "validation", "variables"],
)
async def test_a_request_that_fails_before_execution_answers_400_without_data(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
) -> None:
    response = await post(http, query, variables, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    body = response.json()
    assert "data" not in body
    assert code(body) == "BAD_INPUT"


@pytest.mark.parametrize(
    ("query", "variables"),
    [(PARSE_ERROR, None), (VALIDATION_ERROR, None), VARIABLE_ERROR],
    ids=["parse", "validation", "variables"],
)
async def test_application_json_still_answers_200_with_data_null(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
) -> None:
    response = await post(http, query, variables)  # httpx sends Accept: */*, as most clients do
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert body["data"] is None
    assert code(body) == "BAD_INPUT"


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, JSON])
async def test_an_error_in_execution_answers_200_with_its_data(http: httpx.AsyncClient, accept: str) -> None:
    response = await post(http, FIELD_ERROR, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == accept
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["campaigns"]
    assert code(body) == "UNAUTHENTICATED"


async def test_queries_run_over_get(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/graphql",
        params={
            "query": "query Type($name: String!) { __type(name: $name) { name } }",
            "variables": '{"name": "Query"}',
        },
        headers={"Accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json() == {"data": {"__type": {"name": "Query"}}}


async def test_a_mutation_over_get_answers_405(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "mutation { __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_graphiql_is_still_served_on_get(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
