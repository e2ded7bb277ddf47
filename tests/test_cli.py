"""The `loyalty` command: token, migrate, the refusal of serve without a secret, and the demo data.

Commands that open a database or a server run in a subprocess (`python -m gateway.cli`),
as a user would run them, so they never share the test session's ORM.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import jwt
import pytest

from gateway import cli, demo
from gateway.auth import caller_from_token
from loyalty import clock, ledger
from loyalty.access import Role
from loyalty.enums import EntryKind, WalletStatus
from loyalty.models import Order, Wallet
from tests.conftest import ROOT, tables

SECRET = "test-secret-for-the-cli-0123456789abcdef"
GATEWAY_VARIABLES = ("DATABASE_URL", "REDIS_URL", "LOYALTY_JWT_SECRET")


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """`loyalty ARGS` in a subprocess: the environment less the gateway's variables, plus `env`."""
    base = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_the_console_script_is_installed():
    (script,) = entry_points(group="console_scripts", name="loyalty")
    assert script.value == "gateway.cli:main"


# ---------------------------------------------------------------------------- token


def test_token_prints_a_signed_token_with_role_sub_and_exp():
    before = datetime.now(UTC)
    result = run_cli(
        "token",
        "--role",
        "participant",
        "--sub",
        "c-42",
        "--email",
        "c42@example.com",
        "--email-verified",
        "--ttl-hours",
        "2",
        env={"LOYALTY_JWT_SECRET": SECRET},
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert "\n" not in token  # only the token on stdout: TOKEN=$(loyalty token ...) works
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["role"] == "participant"
    assert claims["sub"] == "c-42"
    assert claims["email"] == "c42@example.com" and claims["email_verified"] is True
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    ttl = timedelta(hours=2)
    assert before + ttl - timedelta(seconds=5) <= expires <= datetime.now(UTC) + ttl
    # ... and the gateway reads it as that caller.
    caller = caller_from_token(token, SECRET)
    assert caller.role is Role.PARTICIPANT and caller.identity is not None
    assert caller.identity.customer_id == "c-42" and caller.identity.has_verified_contact
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-of-enough-length-0123456789", algorithms=["HS256"])


def test_token_for_a_partner_carries_the_partner_claim(monkeypatch, capsys):
    monkeypatch.setenv("LOYALTY_JWT_SECRET", SECRET)
    assert cli.main(["token", "--role", "partner", "--sub", "ticketon", "--partner", "ticketon"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])
    assert claims["role"] == "partner" and claims["partner"] == "ticketon"
    assert "email" not in claims and "phone_number" not in claims


def test_token_refuses_a_partner_without_partner_id_and_a_missing_secret(monkeypatch, capsys):
    monkeypatch.setenv("LOYALTY_JWT_SECRET", SECRET)
    assert cli.main(["token", "--role", "partner", "--sub", "p"]) == 2
    assert "--partner" in capsys.readouterr().err
    monkeypatch.delenv("LOYALTY_JWT_SECRET")
    assert cli.main(["token", "--role", "admin", "--sub", "support"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "LOYALTY_JWT_SECRET is not set" in captured.err


# ---------------------------------------------------------------------------- migrate


def test_migrate_applies_the_migrations_to_a_fresh_sqlite_file(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    result = run_cli("migrate", env={"DATABASE_URL": f"sqlite://{path}"})
    assert result.returncode == 0, result.stderr
    assert "applied loyalty.0001_initial" in result.stdout
    with sqlite3.connect(path) as conn:
        found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(tables()) <= found, f"missing: {set(tables()) - found}"
    # Again: nothing left to apply.
    again = run_cli("migrate", "--database-url", f"sqlite://{path}")
    assert again.returncode == 0, again.stderr
    assert "Nothing to apply" in again.stdout and "  applied" not in again.stdout


# ---------------------------------------------------------------------------- serve


def test_serve_refuses_clearly_to_start_without_a_secret():
    result = run_cli("serve", "--port", "1", timeout=60)
    assert result.returncode == 2
    assert "LOYALTY_JWT_SECRET is not set" in result.stderr
    assert "Uvicorn running" not in result.stderr + result.stdout


def test_serve_runs_uvicorn_on_the_app_with_a_secret(monkeypatch):
    started = {}
    monkeypatch.setenv("LOYALTY_JWT_SECRET", SECRET)
    monkeypatch.setattr(
        cli, "_uvicorn", lambda host, port, reload=False: started.update(host=host, port=port, reload=reload)
    )
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert started == {"host": "0.0.0.0", "port": 8123, "reload": False}
    assert cli.APP == "gateway.app:app"


# ---------------------------------------------------------------------------- demo data


async def _wallet(customer_id: str, program_id: str) -> Wallet:
    return await Wallet.get(participant__customer_id=customer_id, program_id=program_id)


async def test_demo_loader_gives_the_wallets_and_balances_it_promises(catalog):
    loaded = await demo.load(catalog)
    program = loaded.program_id
    assert program == "live-brighter"
    assert loaded.participants == ["demo-alice", "demo-bob", "demo-carol"]
    assert len(loaded.events) == 4 and len(loaded.orders) == 6

    alice = await _wallet("demo-alice", program)
    bob = await _wallet("demo-bob", program)
    carol = await _wallet("demo-carol", program)
    assert [alice.status, bob.status, carol.status] == [
        WalletStatus.ACTIVE,
        WalletStatus.ACTIVE,
        WalletStatus.PENDING,
    ]
    # Alice: 1,500 (concert, started) - 1,000 spent at the cinema; 1,400 theatre + 150 cinema pending.
    assert await ledger.balance(alice.id) == ledger.Balance(active=500, pending=1550)
    # Bob: 400 (concert) + 250 welcome adjustment active; 400 (sport) pending.
    assert await ledger.balance(bob.id) == ledger.Balance(active=650, pending=400)
    # Carol: no verified contact, nothing earned (LB-01).
    assert await ledger.balance(carol.id) == ledger.Balance()
    # Alice has a wallet in every configured program.
    assert await Wallet.filter(participant__customer_id="demo-alice").count() == len(list(catalog))

    accrued = {o.id: (o.bonus_accrued, o.bonus_spent) for o in await Order.all()}
    assert accrued == {
        "demo-1001": (1500, 0),
        "demo-1002": (1400, 0),
        "demo-1003": (150, 1000),
        "demo-2001": (400, 0),
        "demo-2002": (400, 0),
        "demo-3001": (0, 0),
    }
    # Bob's welcome credit burns first, in 30 days; Alice's concert bonuses 90 days after activation.
    burns = await ledger.next_burns([alice.id, bob.id, carol.id])
    assert burns[bob.id] is not None and burns[bob.id].amount == 250
    assert burns[bob.id].at == clock.now() + timedelta(days=30)
    assert burns[alice.id] is not None and burns[alice.id].amount == 500
    assert burns[carol.id] is None

    history = await ledger.history(alice.id, first=10)
    kinds = sorted(entry.kind for entry in history.entries)
    assert kinds == sorted([EntryKind.ACCRUAL] * 3 + [EntryKind.SPEND])

    # The show goes on: 14 days later the theatre and cinema bonuses are active too.
    clock.advance(timedelta(days=14, minutes=1))
    assert await ledger.balance(alice.id) == ledger.Balance(active=2050, pending=0)


def test_demo_tokens_cover_every_role_and_the_program_owner(host):
    owner = demo.primary_program(host.catalog).owner
    assert owner == "ticketon"
    tokens = cli.demo_tokens(SECRET, owner)
    roles = {caller_from_token(t, SECRET).role for t in tokens.values()}
    assert roles == {Role.PARTICIPANT, Role.TICKETING, Role.MARKETER, Role.ADMIN, Role.PARTNER}
    participant = caller_from_token(next(iter(tokens.values())), SECRET)
    assert participant.identity is not None and participant.identity.customer_id == "demo-alice"
    assert participant.identity.has_verified_contact
    partners = [caller.partner for t in tokens.values() if (caller := caller_from_token(t, SECRET)).partner]
    assert partners == ["ticketon"]


def test_migrate_refuses_an_sqlite_file_in_a_missing_folder(tmp_path, capsys):
    """Tortoise would wait forever on it; the command says what is wrong instead."""
    url = f"sqlite://{tmp_path / 'no-such-folder' / 'x.sqlite3'}"
    assert cli.main(["migrate", "--database-url", url]) == 2
    assert "folder does not exist" in capsys.readouterr().err


def test_migrate_on_an_up_to_date_database_applies_nothing(orm):
    """The session's database (SQLite, or PostgreSQL under DATABASE_URL=postgres://...) is migrated."""
    result = run_cli("migrate", env={"DATABASE_URL": orm})
    assert result.returncode == 0, result.stderr
    assert "Nothing to apply" in result.stdout
