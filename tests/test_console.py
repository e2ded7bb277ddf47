"""The marketing console as the gateway serves it (issue 12); the page itself: test_console_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate

from gateway import console
from gateway.app import create_app
from gateway.cli.server import console_line
from gateway.settings import Settings
from schema import schema
from tests.conftest import ROOT
from tests.gql import SECRET, Client, token

CONTRACT_MARKETING = ROOT.parent / "shared" / "contract" / "marketing.graphql"
STATIC = ROOT / "gateway" / "console"


def app_client(**settings: object) -> httpx.AsyncClient:
    app = create_app(
        Settings(LOYALTY_JWT_SECRET=SECRET, LOYALTY_PLUGINS=str(ROOT / "plugins.toml"), **settings),  # type: ignore[arg-type]
        open_database=False,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def operations(text: str) -> list[str]:
    return [d.name.value for d in parse(text).definitions if isinstance(d, OperationDefinitionNode) and d.name]


async def test_the_console_is_served_at_console_with_a_policy_that_allows_only_this_gateway():
    async with app_client() as http:
        moved = await http.get("/console")
        assert moved.status_code == 307 and moved.headers["location"].endswith("/console/")
        page = await http.get("/console/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="console.js"></script>' in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy
        for name in ("console.js", "graphql.js", "audience.js", "console.css"):
            served = await http.get(f"/console/{name}")
            assert served.status_code == 200, name
            assert served.text == (STATIC / name).read_text()


async def test_the_console_is_off_when_the_setting_says_so():
    async with app_client(LOYALTY_CONSOLE=False) as http:
        for path in ("/console/", "/console/index.html", "/console/documents.graphql"):
            assert (await http.get(path)).status_code == 404, path
        assert (await http.get("/healthz")).status_code == 200


def test_the_console_setting_reads_loyalty_console(monkeypatch):
    monkeypatch.setenv("LOYALTY_CONSOLE", "false")
    assert Settings().console is False
    monkeypatch.delenv("LOYALTY_CONSOLE")
    assert Settings().console is True


async def test_the_page_gets_the_marketing_documents_from_the_gateway():
    async with app_client() as http:
        served = await http.get("/console/documents.graphql")
    assert served.status_code == 200
    assert served.text == (ROOT / "schema" / "documents" / "marketing.graphql").read_text()
    assert served.text == console.marketing_documents()


def test_the_marketing_documents_are_the_contracts_byte_for_byte():
    if not CONTRACT_MARKETING.exists():
        pytest.skip("no ../shared/contract beside the repository")
    assert console.DOCUMENTS.read_bytes() == CONTRACT_MARKETING.read_bytes()


def test_the_whole_marketing_document_validates_as_one_request():
    """The page sends the whole text with an operationName: every operation must validate beside the others."""
    document = parse(console.marketing_documents())
    assert validate(schema._schema, document) == []
    names = operations(console.marketing_documents())
    assert len(names) == len(set(names))


def test_the_page_writes_no_graphql_and_names_only_operations_of_the_documents():
    scripts = {path.name: path.read_text() for path in STATIC.glob("*.js")}
    known = set(operations(console.marketing_documents()))
    used: set[str] = set()
    for name, text in scripts.items():
        assert not re.search(r"\b(query|mutation|subscription)\s+\w*\s*[({]", text), f"GraphQL written in {name}"
        used |= set(re.findall(r"\b(?:call|act)\(\s*\"([A-Za-z]+)\"", text))
    assert used, "the page calls no operation"
    assert used <= known, used - known
    # What a marketer does, CA-01..CA-05, each through the contract's operation.
    assert used >= {
        "Campaigns",
        "Campaign",
        "PreviewAudience",
        "CreateGiftCampaign",
        "LaunchCampaign",
        "PauseCampaign",
        "ResumeCampaign",
        "CancelCampaign",
    }


def test_the_page_loads_nothing_from_elsewhere():
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert not re.search(r"""(import|from)\s*\(?["'](https?:)?//""", text), path.name
        assert not re.search(r"url\(\s*[\"']?(https?:)?//", text), path.name


async def test_the_whole_document_runs_each_operation_by_name():
    """What the page sends: the whole text, the operation picked by operationName."""
    gql = Client()
    body = {"query": console.marketing_documents(), "operationName": "Campaigns", "variables": {"first": 5}}
    headers = {"Authorization": f"Bearer {token('marketer', 'console')}"}
    response = await gql.http.post("/graphql", json=body, headers=headers)
    assert response.json() == {
        "data": {"campaigns": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    }


def test_loyalty_demo_prints_the_console_address_with_the_token_in_the_fragment():
    line = console_line(Settings(), "http://127.0.0.1:8000", "TOKEN", "live-brighter")
    assert line == ["Marketing console: http://127.0.0.1:8000/console/#token=TOKEN&program=live-brighter"]
    assert console_line(Settings(LOYALTY_CONSOLE=False), "http://x", "T", "p") == []  # type: ignore[call-arg]


def test_the_console_files_ship_with_the_package():
    """pyproject's package data names them, so a non-editable install carries the page."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "console/*" in data["gateway"]
    assert "documents/*.graphql" in data["schema"]
    assert {p.name for p in STATIC.iterdir()} >= {
        "index.html",
        "console.js",
        "graphql.js",
        "audience.js",
        "console.css",
    }
    assert all(path.is_file() for path in STATIC.iterdir())  # `console/*` takes files, not folders
    assert Path(console.STATIC) == STATIC
