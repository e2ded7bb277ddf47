"""The marketing console (issue 12): a static page at /console that speaks only GraphQL.

The page sends the contract's marketing documents, which the gateway hands it at
/console/documents.graphql: the page holds no GraphQL of its own, so it proves the
contract from a real client. `LOYALTY_CONSOLE=false` serves none of it (404).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import schema

STATIC = Path(__file__).resolve().parent / "console"
# The trusted documents the marketing console ships (a byte copy of contract/marketing.graphql).
DOCUMENTS = Path(schema.__file__).resolve().parent / "documents" / "marketing.graphql"

# The page loads nothing from elsewhere (no CDN) and talks only to this gateway.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def marketing_documents() -> str:
    """The marketing client's documents, as the page sends them (operationName picks one)."""
    return DOCUMENTS.read_text(encoding="utf-8")


class ConsoleFiles(StaticFiles):
    """The console's static files, with the page's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def routes() -> list[BaseRoute]:
    """The console's routes, for `create_app` (documents first: the mount takes the rest)."""
    documents = marketing_documents()

    async def serve_documents(request: Request) -> Response:
        return Response(documents, media_type="application/graphql", headers=HEADERS)

    return [
        Route("/console/documents.graphql", serve_documents),
        Mount("/console", ConsoleFiles(directory=STATIC, html=True), name="console"),
    ]
