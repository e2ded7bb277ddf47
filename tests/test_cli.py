"""The `loyalty` command: help and exit codes, token, migrate, serve, the demo data, campaign watch and list.

Commands that open a database or a server run in a subprocess (`python -m gateway.cli`),
as a user would run them, so they never share the test session's ORM.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import jwt
import pytest
from rich.console import Console
from typer.testing import CliRunner

from gateway import cli, demo
from gateway.auth import caller_from_token
from gateway.cli import campaigns as campaign_cli
from gateway.cli import server
from gateway.cli.exits import ExitCode
from loyalty import audiences, campaigns, clock, ledger, participants
from loyalty.access import Role
from loyalty.enums import CampaignStatus, EntryKind, WalletStatus
from loyalty.jobs import dispatch
from loyalty.models import Campaign, Order, Wallet
from loyalty.programs import Catalog
from tests import scenario
from tests.conftest import ROOT, tables
from tests.population import populate
from workers.queue import InProcessQueue

SECRET = "test-secret-for-the-cli-0123456789abcdef"
GATEWAY_VARIABLES = ("DATABASE_URL", "REDIS_URL", "LOYALTY_JWT_SECRET", "LOYALTY_ERASURE_KEY")
TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")  # rich's: a pipe made a terminal


@pytest.fixture(autouse=True)
def plain_output(monkeypatch):
    """The help and tables as a pipe gets them, whatever the terminal settings of the test run."""
    for name in TERMINAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


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


# ---------------------------------------------------------------------------- help and exit codes

COMMANDS = [
    ([], "COMMAND"),
    (["demo"], "--database"),
    (["serve"], "--reload"),
    (["migrate"], "--database-url"),
    (["token"], "--ttl-hours"),
    (["campaign"], "watch"),
    (["campaign", "watch"], "--interval"),
    (["campaign", "list"], "--limit"),
]


@pytest.mark.parametrize(("command", "option"), COMMANDS, ids=[" ".join(c) or "loyalty" for c, _ in COMMANDS])
def test_every_command_has_help_with_its_options_and_the_exit_codes(command, option):
    result = CliRunner().invoke(cli.app, [*command, "--help"], prog_name="loyalty", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Usage: loyalty {' '.join(command)}".rstrip() in result.output
    assert option in result.output
    assert "Exit codes: 0 ok; 1 the work failed" in result.output
    assert "3 not found (unknown campaign id)" in result.output


def test_the_root_help_lists_every_command(capsys):
    assert cli.main(["-h"]) == ExitCode.OK
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("│ ")]
    assert listed[-6:] == ["demo", "serve", "migrate", "token", "audit", "campaign"]


@pytest.mark.parametrize(
    "argv",
    [
        ["nope"],
        ["token", "--sub", "x"],  # --role missing
        ["token", "--role", "root", "--sub", "x"],
        ["serve", "--port", "http"],
        ["campaign", "watch"],  # the id missing
        ["campaign", "list", "--limit", "0"],
        ["campaign", "list", "--limit", "101"],
    ],
)
def test_bad_usage_exits_2_with_the_usage_on_stderr(argv, capsys):
    assert cli.main(argv) == ExitCode.USAGE == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Usage: loyalty" in captured.err and "Error: " in captured.err


@pytest.mark.parametrize("argv", [[], ["campaign"]])
def test_a_group_without_its_command_shows_its_help_and_exits_2(argv, capsys):
    assert cli.main(argv) == ExitCode.USAGE
    assert f"Usage: loyalty {' '.join(argv)}".rstrip() in capsys.readouterr().out


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


def test_lb16_serve_refuses_clearly_to_start_without_an_erasure_key():
    result = run_cli("serve", "--port", "1", env={"LOYALTY_JWT_SECRET": SECRET}, timeout=60)
    assert result.returncode == 2
    assert "LOYALTY_ERASURE_KEY is not set" in result.stderr
    assert "Uvicorn running" not in result.stderr + result.stdout


def test_serve_runs_uvicorn_on_the_app_with_a_secret(monkeypatch):
    started = {}
    monkeypatch.setenv("LOYALTY_JWT_SECRET", SECRET)
    monkeypatch.setenv("LOYALTY_ERASURE_KEY", "an-erasure-key-for-this-test-0123456789")
    monkeypatch.setattr(
        server, "_uvicorn", lambda host, port, reload=False: started.update(host=host, port=port, reload=reload)
    )
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert started == {"host": "0.0.0.0", "port": 8123, "reload": False}
    assert cli.main(["serve", "--reload"]) == 0
    assert started == {"host": "127.0.0.1", "port": 8000, "reload": True}
    assert server.APP == "gateway.app:app"


# ---------------------------------------------------------------------------- demo data


async def _wallet(customer_id: str, program_id: str) -> Wallet:
    return await Wallet.get(participant__customer_id=customer_id, program_id=program_id)


async def test_demo_loader_gives_the_wallets_and_balances_it_promises(achieving):
    catalog = achieving  # plugins.toml as `loyalty demo` runs it, achievements included (GA-04)
    loaded = await demo.load(catalog, scenario.ERASURE_KEY)
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
    # Alice: 1,500 (concert, started) - 1,000 spent at the cinema + First ticket's 100 active;
    # 1,400 theatre + 150 cinema + Explorer's 200 (her third category, waiting for the cinema) pending.
    assert await ledger.balance(alice.id) == ledger.Balance(active=600, pending=1750)
    # Bob: 400 (concert) + 250 welcome adjustment + First ticket's 100 active; 400 (sport) pending.
    assert await ledger.balance(bob.id) == ledger.Balance(active=750, pending=400)
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
    assert burns[alice.id] is not None and burns[alice.id].amount == 600  # 500 left of 1,500, and 100
    assert burns[carol.id] is None

    history = await ledger.history(alice.id, first=10)
    kinds = sorted(entry.kind for entry in history.entries)
    assert kinds == sorted([EntryKind.ACCRUAL] * 3 + [EntryKind.SPEND] + [EntryKind.ACHIEVEMENT] * 2)

    # The show goes on: 14 days later the theatre and cinema bonuses are active too.
    clock.advance(timedelta(days=14, minutes=1))
    assert await ledger.balance(alice.id) == ledger.Balance(active=2350, pending=0)


def test_demo_tokens_cover_every_role_and_the_program_owner(host):
    owner = demo.primary_program(host.catalog).owner
    assert owner == "ticketon"
    tokens = server.demo_tokens(SECRET, owner)
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
    assert cli.main(["migrate", "--database-url", url]) == ExitCode.USAGE
    assert "folder does not exist" in capsys.readouterr().err


def test_migrate_on_an_unreachable_database_fails_with_1():
    result = run_cli("migrate", "--database-url", "postgres://nobody@127.0.0.1:1/none")
    assert result.returncode == ExitCode.FAILED == 1
    assert "cannot reach the database" in result.stderr and "Traceback" not in result.stderr


def test_a_command_on_a_database_never_migrated_says_so_and_fails_with_1(tmp_path):
    result = run_cli("campaign", "list", env={"DATABASE_URL": f"sqlite://{tmp_path / 'empty.sqlite3'}"})
    assert result.returncode == ExitCode.FAILED
    assert "has `loyalty migrate` run on" in result.stderr and "Traceback" not in result.stderr


def test_migrate_on_an_up_to_date_database_applies_nothing(orm):
    """The session's database (SQLite, or PostgreSQL under DATABASE_URL=postgres://...) is migrated."""
    result = run_cli("migrate", env={"DATABASE_URL": orm})
    assert result.returncode == 0, result.stderr
    assert "Nothing to apply" in result.stdout


# ---------------------------------------------------------------------------- campaign watch / list

PROGRAM = scenario.PROGRAM


async def gift_campaign(catalog: Catalog, name: str = "spring gift", batch_size: int = 3) -> Campaign:
    draft = campaigns.Draft(
        name=name, program_id=PROGRAM, amount=100, audience=audiences.audience(all=True), valid_days=30
    )
    return await campaigns.create(catalog, draft, "marketer", batch_size=batch_size)


async def granted_to_the_end(work: campaigns.Work) -> None:
    queue = InProcessQueue()
    await dispatch(queue, work)
    await queue.drain()


async def watch_cli(*args: str, database_url: str) -> asyncio.subprocess.Process:
    base = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARIABLES}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "campaign",
        "watch",
        *args,
        cwd=ROOT,
        env={**base, "DATABASE_URL": database_url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def line_with(process: asyncio.subprocess.Process, *parts: str) -> str:
    """The next line of the watch's output that has every part (the rate may change lines in between)."""
    assert process.stdout is not None
    while True:
        raw = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert raw, f"the watch ended before a line with {parts}: {(await process.stderr.read()).decode()}"  # type: ignore[union-attr]
        line = raw.decode().rstrip("\n")
        if all(part in line for part in parts):
            return line


async def test_ca03_cli_watch_follows_a_campaign_to_the_end_in_plain_lines(catalog: Catalog, orm: str) -> None:
    """Not a terminal (a pipe): a plain line per change; exit 0 when FINISHED."""
    await populate("p-", 9)
    campaign = await gift_campaign(catalog, batch_size=3)  # p-1..p-3 | p-4..p-6 | p-7..p-9
    await campaigns.launch(catalog, campaign.id)  # the batches granted below, one by one
    watching = await watch_cli(str(campaign.id), "--interval", "0.1", database_url=orm)
    try:
        first = await line_with(watching, "RUNNING")
        assert first == (
            f"campaign {campaign.id} [..............................]   0.0%"
            "  granted 0  skipped 0 of 9  --/s  left --  RUNNING"
        )
        await campaigns.grant_batch(campaign.id, 0)  # started now: startedAt is the frozen clock
        assert "[##########....................]  33.3%" in await line_with(watching, "granted 3  skipped 0 of 9")
        await campaigns.grant_batch(campaign.id, 1)
        await line_with(watching, " 66.7%  granted 6  skipped 0 of 9")
        await participants.block(catalog, "p-9", PROGRAM, "abuse", "staff")  # before its batch: skipped
        clock.advance(timedelta(seconds=3))  # the last batch 3 s after the first: 9 participants in 3 s
        await campaigns.grant_batch(campaign.id, 2)
        last = await line_with(watching, "FINISHED")
        assert last == (
            f"campaign {campaign.id} [##############################] 100.0%"
            "  granted 8  skipped 1 of 9  3/s  left 0s  FINISHED"
        )
        assert await asyncio.wait_for(watching.wait(), timeout=30) == ExitCode.OK
    finally:
        if watching.returncode is None:
            watching.kill()
            await watching.wait()


async def test_ca03_cli_watch_exits_1_on_a_cancelled_campaign_and_3_on_an_unknown_one(
    catalog: Catalog, orm: str
) -> None:
    await populate("p-", 4)
    campaign = await gift_campaign(catalog, batch_size=2)
    await campaigns.launch(catalog, campaign.id)
    await campaigns.grant_batch(campaign.id, 0)
    await campaigns.cancel(campaign.id)
    cancelled = await watch_cli(str(campaign.id), database_url=orm)
    out, err = await asyncio.wait_for(cancelled.communicate(), timeout=60)
    assert cancelled.returncode == ExitCode.FAILED == 1, err.decode()
    assert out.decode().splitlines()[-1].endswith("granted 2  skipped 0 of 4  --/s  left --  CANCELLED")
    for unknown in ("4242", "not-a-number"):
        missing = await watch_cli(unknown, database_url=orm)
        out, err = await asyncio.wait_for(missing.communicate(), timeout=60)
        assert missing.returncode == ExitCode.NOT_FOUND == 3
        assert out == b"" and f"Error: no campaign {unknown}" in err.decode()


async def test_ca03_cli_watch_interrupted_exits_130(catalog: Catalog, orm: str) -> None:
    await populate("p-", 2)
    campaign = await gift_campaign(catalog)
    await campaigns.launch(catalog, campaign.id)
    watching = await watch_cli(str(campaign.id), "--interval", "0.1", database_url=orm)
    await line_with(watching, "granted 0  skipped 0 of 2", "RUNNING")
    watching.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = await asyncio.wait_for(watching.communicate(), timeout=30)
    assert watching.returncode == ExitCode.INTERRUPTED == 130
    assert "Traceback" not in err.decode()


async def test_ca03_cli_watch_draws_a_rich_progress_bar_on_a_terminal(catalog: Catalog) -> None:
    await populate("p-", 9)
    campaign = await gift_campaign(catalog, name="autumn gift", batch_size=3)
    _, work = await campaigns.launch(catalog, campaign.id)
    await campaigns.grant_batch(campaign.id, 0)
    ticks = iter(range(100))

    def terminal() -> tuple[Console, io.StringIO]:
        out = io.StringIO()
        return Console(file=out, force_terminal=True, force_interactive=True, color_system=None, width=200), out

    console, out = terminal()
    # Running: one refresh, then the limit stops it.
    status = await campaign_cli.watch(
        str(campaign.id), console=console, interval=0, limit=1, now=lambda: float(next(ticks))
    )
    assert status is CampaignStatus.RUNNING
    title, drawn = out.getvalue().split("\n", 1)
    assert title == f"Campaign {campaign.id} autumn gift (live-brighter, 100 to each of 9)"
    frame = drawn.split("\r\x1b[2K")[-1]  # the last frame drawn: a third of the bar, 8 of 24
    assert frame.startswith("━" * 8 + " " * 16 + "  33% granted 3 skipped 0 --/s left -- RUNNING")
    await granted_to_the_end(work)
    clock.advance(timedelta(seconds=3))
    await Campaign.filter(id=campaign.id).update(finished_at=clock.now())
    console, out = terminal()
    assert await campaign_cli.watch(str(campaign.id), console=console, interval=0) is CampaignStatus.FINISHED
    final = out.getvalue().split("\r\x1b[2K")[-1]  # the last frame drawn
    assert final == "━" * 24 + " 100% granted 9 skipped 0 3/s left 0s FINISHED\n\x1b[?25h"


async def test_ca03_cli_watch_measures_the_rate_over_its_last_refreshes(catalog: Catalog) -> None:
    await populate("p-", 30)
    campaign = await gift_campaign(catalog, batch_size=30)
    campaign, _ = await campaigns.launch(catalog, campaign.id)
    times = iter([0.0, 2.0, 4.0])
    sampler = campaign_cli._Sampler(lambda: next(times))
    first = sampler.snapshot(campaign, campaigns.Progress(0, 0))
    assert (first.rate, first.left) == (None, None)  # one sample: no rate yet
    second = sampler.snapshot(campaign, campaigns.Progress(5, 1))
    assert (second.rate, second.left) == (3.0, 8.0)  # 6 done in 2 s; 24 left at 3/s
    third = sampler.snapshot(campaign, campaigns.Progress(11, 1))
    assert (third.rate, third.left) == (3.0, 6.0)  # 12 done in 4 s; 18 left
    assert campaign_cli.progress_line(third) == (
        f"campaign {campaign.id} [############..................]  40.0%"
        "  granted 11  skipped 1 of 30  3/s  left 6s  RUNNING"
    )


async def test_ca03_cli_list_prints_recent_campaigns_as_a_table(catalog: Catalog, orm: str) -> None:
    await populate("p-", 4)
    first = await gift_campaign(catalog, name="first gift")
    _, work = await campaigns.launch(catalog, first.id)
    await granted_to_the_end(work)
    await gift_campaign(catalog, name="second gift")
    # Piped: no borders, one campaign a line, for scripts.
    result = run_cli("campaign", "list", env={"DATABASE_URL": orm})
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0].split() == list(campaign_cli.COLUMNS)
    assert lines[0].startswith("ID  STATUS    PROGRAM       ")  # aligned: STATUS is as wide as FINISHED
    assert lines[1].split()[:2] == [str(first.id + 1), "DRAFT"] and lines[1].endswith("second gift")
    assert lines[2].split()[:7] == [str(first.id), "FINISHED", PROGRAM, "100", "4", "4", "0"]
    assert lines[2].endswith("2026-03-02 12:00  first gift") and len(lines) == 3
    limited = run_cli("campaign", "list", "--limit", "1", env={"DATABASE_URL": orm})
    assert [line.split()[0] for line in limited.stdout.splitlines()] == ["ID", str(first.id + 1)]
    # On a terminal: a table with a rule under its header.
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system=None, width=200).print(await campaign_cli.table())
    drawn = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    assert drawn[0].split() == lines[0].split() and set(drawn[1]) <= {"━", "─", " "}
    assert drawn[2].split() == lines[1].split() and drawn[3].split() == lines[2].split()
