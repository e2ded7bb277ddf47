"""A GraphQL client for tests: the real app over httpx, tokens for each role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.auth import issue
from gateway.settings import Settings
from loyalty.access import Role

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "contract"
SECRET = "test-secret-not-for-production-0123456789"


def token(role: Role | str, sub: str = "caller", **claims: Any) -> str:
    return issue(SECRET, role=Role(role), sub=sub, **claims)


def participant_token(customer_id: str, verified: bool = True) -> str:
    return token(Role.PARTICIPANT, customer_id, email=f"{customer_id}@example.com", email_verified=verified)


def document(name: str) -> str:
    """The text of one operation of the contract's documents, by operation name."""
    from graphql import parse, print_ast

    for path in sorted(CONTRACT.glob("*.graphql")):
        if path.name == "schema.graphql":
            continue
        for definition in parse(path.read_text()).definitions:
            if getattr(definition, "name", None) and definition.name.value == name:  # type: ignore[union-attr]
                return print_ast(definition)
    raise KeyError(name)


class Client:
    """Posts GraphQL to an app sharing the test session's ORM."""

    def __init__(self, plugins: Path | None = None, redis_url: str | None = None) -> None:
        # Jobs run in this process unless a test passes a Redis URL: the environment's
        # REDIS_URL (set in CI's PostgreSQL run) must not change what a test exercises.
        settings = Settings(
            LOYALTY_JWT_SECRET=SECRET, LOYALTY_PLUGINS=str(plugins or ROOT / "plugins.toml"), REDIS_URL=redis_url
        )
        self.app = create_app(settings, open_database=False)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gateway")

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def op(self, name: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """Run one of the contract's documents, as written."""
        return await self(document(name), variables, token)


def error_code(result: dict[str, Any]) -> str:
    assert result.get("errors"), f"expected an error, got {result}"
    return str(result["errors"][0]["extensions"]["code"])
