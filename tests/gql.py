"""A GraphQL client for tests: the real app over httpx, tokens for each role."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.auth import issue
from gateway.settings import Settings
from loyalty.access import Role
from schema import schema
from schema.registry import DocumentRegistry

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-not-for-production-0123456789"
# The pseudonyms' key (LB-16): random per test run, as `loyalty demo` makes one per run.
ERASURE_KEY = secrets.token_urlsafe(32)


def token(role: Role | str, sub: str = "caller", **claims: Any) -> str:
    return issue(SECRET, role=Role(role), sub=sub, **claims)


def participant_token(customer_id: str, verified: bool = True) -> str:
    return token(Role.PARTICIPANT, customer_id, email=f"{customer_id}@example.com", email_verified=verified)


@cache
def registry() -> DocumentRegistry:
    """The gateway's trusted documents (schema/documents), validated against the default schema."""
    return DocumentRegistry.load(schema._schema)


def document(name: str) -> str:
    """The text a client sends for one trusted operation, by operation name."""
    return registry()[name].text


async def post_document(
    http: httpx.AsyncClient, name: str, variables: dict[str, Any], caller: str | None, media: str | None, how: str
) -> httpx.Response:
    """POST /graphql of the trusted operation `name` as a client sends it: by `sha256`
    (a persisted query), by `name`, as its exact `text`, or `untrusted` (its text with a
    newline more, so no trusted document matches and Strawberry parses and runs it)."""
    operation = registry()[name]
    headers = {"Authorization": f"Bearer {caller}"} if caller else {}
    if media:
        headers["Accept"] = media
    body: dict[str, Any] = {"variables": variables}
    if how == "sha256":
        body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": operation.sha256}}
    elif how == "name":
        body["operationName"] = name
    elif how == "text":
        body["query"] = operation.text
    elif how == "untrusted":
        body["query"] = operation.text + "\n"
    else:
        raise ValueError(f"no way {how!r} to post a document")
    return await http.post("/graphql", json=body, headers=headers)


class Client:
    """Posts GraphQL to an app sharing the test session's ORM."""

    def __init__(
        self,
        plugins: Path | None = None,
        redis_url: str | None = None,
        settings: dict[str, Any] | None = None,
        **more: Any,
    ) -> None:
        # Jobs run in this process unless a test passes a Redis URL: the environment's
        # REDIS_URL (set in CI's PostgreSQL run) must not change what a test exercises.
        # `settings` and `more`: more variables by name (LOYALTY_JWT_ISSUER=...,
        # LOYALTY_INTROSPECTION=True), over these.
        given: dict[str, Any] = {
            "LOYALTY_JWT_SECRET": SECRET,
            "LOYALTY_ERASURE_KEY": ERASURE_KEY,
            "LOYALTY_PLUGINS": str(plugins or ROOT / "plugins.toml"),
            "REDIS_URL": redis_url,
            **(settings or {}),
            **more,
        }
        self.settings = Settings(**given)
        self.app = create_app(self.settings, open_database=False)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gateway")

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        return await self.post({"query": query, "variables": variables or {}}, token)

    async def post(self, body: Any, token: str | None = None) -> Any:
        """POST a raw GraphQL-over-HTTP body; the JSON answer."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def op(self, name: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """Run one of the trusted documents, sending its text as a client without persisted queries does."""
        return await self(document(name), variables, token)

    async def persisted(
        self, name: str, variables: dict[str, Any] | None = None, token: str | None = None, *, by: str = "sha256"
    ) -> dict[str, Any]:
        """Run one of the trusted documents without its text: by its hash (Apollo APQ) or by name."""
        body: dict[str, Any] = {"variables": variables or {}}
        if by == "sha256":
            body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": registry()[name].sha256}}
        else:
            body["operationName"] = name
        return dict(await self.post(body, token))


def error_code(result: dict[str, Any]) -> str:
    assert result.get("errors"), f"expected an error, got {result}"
    return str(result["errors"][0]["extensions"]["code"])
