"""The app under a real uvicorn: requests see the ORM that the lifespan opened.

uvicorn runs the lifespan in one task and each request in another; this proves the
ORM initialised in the first is the one the others use (gateway.db.start's global
fallback), on a database migrated by `loyalty migrate`, as a deployment would run it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.auth import issue
from loyalty.access import Role
from tests.conftest import ROOT, postgres_url

SECRET = "uvicorn-test-secret-0123456789abcdef0123"

PROGRAMS = "{ programs { id name currency } }"
JOIN = """
mutation JoinProgram($input: JoinInput!) {
  joinProgram(input: $input) { participant { id status } wallet { program { id } status } }
}
"""
WALLETS = "{ me { id status wallets { program { id } status active pending debt } } }"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_env(database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LOYALTY_JWT_SECRET")}
    return {
        **base,
        "DATABASE_URL": database_url,
        "LOYALTY_JWT_SECRET": SECRET,
        "LOYALTY_ERASURE_KEY": "an-erasure-key-for-this-test-0123456789",
        "LOYALTY_PLUGINS": str(ROOT / "plugins.toml"),
    }


def migrate(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "migrate"],
        cwd=ROOT,
        env=gateway_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def wait_healthy(server: subprocess.Popen, http: httpx.Client, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, f"the server exited ({server.returncode}):\n{log_path.read_text()}"
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"no /healthz within 30 s:\n{log_path.read_text()}"
        time.sleep(0.1)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def serve_and_check(database_url: str, log_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gateway.app:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=gateway_env(database_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_healthy(server, http, log_path)

            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["database"] == "ok"

            def post(query: str, variables: dict | None = None, token: str | None = None) -> dict:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
                assert response.status_code == 200, response.text
                body = response.json()
                assert not body.get("errors"), f"{body['errors']}\n{log_path.read_text()}"
                return body["data"]

            programs = post(PROGRAMS)["programs"]
            assert "live-brighter" in [program["id"] for program in programs]

            token = issue(SECRET, role=Role.PARTICIPANT, sub="uv-1", email="uv-1@example.com", email_verified=True)
            join_input = {
                "programId": "live-brighter",
                "acceptRules": True,
                "personalDataConsent": True,
                "marketingConsent": False,
            }
            joined = post(JOIN, {"input": join_input}, token)["joinProgram"]
            assert joined["wallet"] == {"program": {"id": "live-brighter"}, "status": "ACTIVE"}

            me = post(WALLETS, token=token)["me"]
            assert me["status"] == "ACTIVE"
            assert me["wallets"] == [
                {"program": {"id": "live-brighter"}, "status": "ACTIVE", "active": 0, "pending": 0, "debt": 0}
            ]
            # A bad token is refused, with the contract's code, by the same server.
            refused = http.post("/graphql", json={"query": WALLETS}, headers={"Authorization": "Bearer nope"})
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        stop(server)


def test_uvicorn_serves_the_app_on_a_migrated_sqlite_database(tmp_path):
    database_url = f"sqlite://{tmp_path / 'uvicorn.sqlite3'}"
    migrate(database_url)
    serve_and_check(database_url, tmp_path / "uvicorn.log")


@pytest.mark.postgres
def test_uvicorn_serves_the_app_on_postgresql(orm, tmp_path):
    """The session's PostgreSQL database, already migrated; the tables were emptied for this test."""
    assert postgres_url() is not None
    serve_and_check(orm, tmp_path / "uvicorn.log")


def test_loyalty_demo_serves_what_it_promises(tmp_path):
    """`loyalty demo` in an empty folder: the printed token reads the demo wallet over HTTP."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    env = {k: v for k, v in gateway_env("unused").items() if k not in ("DATABASE_URL", "LOYALTY_JWT_SECRET")}
    env["PYTHONPATH"] = str(ROOT)  # run from another folder, as a newcomer might
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_healthy(server, http, log_path)
            printed = log_path.read_text()
            assert f"GraphiQL: http://127.0.0.1:{port}/graphql" in printed
            assert (tmp_path / "loyalty-demo.sqlite3").exists()
            token = re.search(r"Authorization: Bearer (\S+)'", printed)
            assert token, printed
            response = http.post(
                "/graphql",
                json={"query": WALLETS},
                headers={"Authorization": f"Bearer {token.group(1)}"},
            )
            body = response.json()
            assert not body.get("errors"), body
            wallets = {w["program"]["id"]: w for w in body["data"]["me"]["wallets"]}
            assert body["data"]["me"]["id"] == "demo-alice"
            assert (wallets["live-brighter"]["active"], wallets["live-brighter"]["pending"]) == (600, 1750)
            assert http.get("/graphql", headers={"Accept": "text/html"}).status_code == 200  # GraphiQL
    finally:
        stop(server)


def test_serving_freezes_what_start_up_made_and_collects_young_objects_less_often():
    """`gateway.app:app` tunes the garbage collector once its app is built (settle_heap)."""
    import gc

    from gateway.app import GC_THRESHOLDS, settle_heap

    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS == (10_000, 20, 20)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
