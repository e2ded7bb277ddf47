"""What the benchmarks share: a scratch database, servers under uvicorn, the load process, the table.

A benchmark here runs each side (the gateway, its floor) as its own uvicorn process and
drives it from another process: wrk (Debian's package) where it is installed, or
bench/load.py, this project's own load generator (`--load python`). Both send the same
`Plan`: request bodies each connection cycles through, with `@conn@` (the connection,
1-based), `@seq@` (how many cycles the connection has done) and `@buyer@` (the
connection's `spread` participants in turn: (conn - 1) * spread + seq % spread + 1) filled in per request,
so a connection can record then pay its own orders. A request fails when its status is
not 200 or its body holds GraphQL `errors` (bench/load.py may let some error codes pass
as refusals, counted apart); a run with failures is reported and exits non-zero.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/test"

sys.path.insert(0, str(ROOT))

from gateway import db  # noqa: E402


def load() -> str:
    """The 1-minute load average and the core count, e.g. '9.12/2'."""
    return f"{os.getloadavg()[0]:.2f}/{os.cpu_count()}"


# ---------------------------------------------------------------------------- scratch database


def pg(url: str) -> str:
    """The asyncpg spelling of a postgres:// URL."""
    return url.replace("postgres://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def scratch_database(base_url: str) -> AsyncIterator[str]:
    """A new database next to `base_url`'s, dropped on the way out; yields its URL."""
    base = db.normalise_url(base_url)
    if not base.startswith("postgres://"):
        raise SystemExit(f"DATABASE_URL must be a PostgreSQL server, e.g. {DEFAULT_DATABASE}")
    name = f"loyalty_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg(base))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.rsplit("/", 1)[0] + "/" + name
        finally:
            await db.stop()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def migrate(url: str) -> None:
    """`loyalty migrate`, the deploy's own command."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([str(BIN / "loyalty"), "migrate"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------------------- servers

SERVERS: dict[str, int] = {}  # base URL -> the uvicorn process's pid, while it serves


def server_cpu(base: str) -> float:
    """The CPU seconds (user and system) the server at `base` has used so far; 0 where
    /proc cannot tell. CPU per request is steadier than requests/s on a noisy machine."""
    try:
        fields = Path(f"/proc/{SERVERS[base]}/stat").read_text().rpartition(")")[2].split()
    except (KeyError, OSError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu() -> dict[int, float]:
    """The CPU seconds each of this machine's PostgreSQL processes has used so far, by pid
    (empty where /proc cannot tell): the database's share of a run, on a machine where
    nothing else uses it."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition("(")[2].rpartition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def database_cpu_since(before: dict[int, float]) -> float:
    """PostgreSQL's CPU seconds since `before` (`database_cpu`); a process that ended in
    between (an autovacuum worker) is not counted."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in database_cpu().items())


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: str, env: dict[str, str], *, app_dir: Path = ROOT, workers: int = 1) -> Iterator[str]:
    """`uvicorn app` (one worker by default) on a free loopback port, once /healthz answers 200;
    yields its base URL and stops it on the way out. Its output is kept only to explain a failed start."""
    port = free_port()
    command = [str(BIN / "uvicorn"), app, "--app-dir", str(app_dir), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    full_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")} | env
    keep = os.environ.get("BENCH_LOGS")  # a folder to keep the servers' output in, for debugging
    with open(Path(keep) / f"{app.split(':')[0]}-{port}.log", "w+b") if keep else tempfile.TemporaryFile() as logs:
        server = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=logs, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    logs.seek(0)
                    tail = logs.read().decode(errors="replace")[-4000:]
                    raise RuntimeError(f"uvicorn {app} did not start:\n{tail}")
                time.sleep(0.2)
            SERVERS[base] = server.pid
            try:
                yield base
            except BaseException:
                logs.seek(0)
                tail = logs.read().decode(errors="replace")[-3000:]
                print(f"--- the last of uvicorn {app}'s output:\n{tail}", file=sys.stderr)
                raise
        finally:
            SERVERS.pop(base, None)
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def post(base: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """One POST /graphql, its JSON answer (for checks before timing); a non-JSON answer as an error."""
    answer = httpx.post(f"{base}/graphql", content=body, headers=headers, timeout=30)
    try:
        return dict(answer.json())
    except ValueError:
        return {"errors": [{"message": f"HTTP {answer.status_code}: {answer.text[:500]}"}]}


# ---------------------------------------------------------------------------- the load


@dataclass
class Plan:
    """What each connection sends: `templates` in turn (JSON bodies with @conn@ and @seq@), POSTed
    to /graphql with `headers`. bench/load.py also takes `refusals` (GraphQL error codes that
    count as refused, not failed) and `rounds` (a burst: see bench/load.py)."""

    templates: list[str]
    headers: dict[str, str]
    refusals: list[str] = field(default_factory=list)
    rounds: int = 0
    spread: int = 1  # participants per connection, for @buyer@


@dataclass
class Result:
    """One side's run of one plan."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    refused: int = 0
    sample: str = ""  # the first failed answer, cut short
    per_round: list[int] = field(default_factory=list)  # burst: successes per round
    cpu_ms: float = 0.0  # the server's CPU time per request (0: unknown)
    database_cpu_ms: float = 0.0  # PostgreSQL's, all of its processes
    load_cpu_ms: float = 0.0  # the load process's

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


LUA = r"""
local templates = %(templates)s
local headers = %(headers)s
local spread = %(spread)d
local threads, made = {}, 0
function setup(thread)
  made = made + 1
  thread:set("conn", made)
  table.insert(threads, thread)
end
-- The next request moves on when an answer comes: wrk also calls request() once to check
-- the script, and again for a request it resends on a new connection.
local n = 0
failed, sample = 0, ""
function request()
  local seq = math.floor(n / #templates)
  local buyer = (conn - 1) * spread + seq %% spread + 1
  local body = templates[n %% #templates + 1]:gsub("@conn@", tostring(conn)):gsub("@seq@", tostring(seq))
  body = body:gsub("@buyer@", tostring(buyer))
  return wrk.format("POST", "/graphql", headers, body)
end
function response(status, _, body)
  n = n + 1
  if status ~= 200 or body:find('"errors"', 1, true) then
    failed = failed + 1
    if sample == "" then sample = status .. " " .. body:sub(1, 300) end
  end
end
function done(summary, latency, _)
  local f, s = 0, ""
  for _, t in ipairs(threads) do
    f = f + t:get("failed")
    if s == "" then s = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format("bench %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), f + e.connect + e.read + e.write + e.timeout, e.status))
  io.write("sample " .. s:gsub("\n", " ") .. "\n")
end
"""


def lua_table(items: list[str] | dict[str, str]) -> str:
    if isinstance(items, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in items.items()) + "}"
    return "{" + ", ".join(json.dumps(item) for item in items) + "}"


def run_wrk(base: str, plan: Plan, connections: int, duration: float) -> Result:
    """wrk -t N -c N (one connection per thread: each connection's requests go in order)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            LUA % {"templates": lua_table(plan.templates), "headers": lua_table(plan.headers), "spread": plan.spread}
        )
    try:
        command = ["wrk", "--latency", "--timeout", "30s", f"-t{connections}", f"-c{connections}"]
        command += [f"-d{max(1, round(duration))}s", "-s", script.name, f"{base}/graphql"]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        os.unlink(script.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("bench "))
    requests, micros, p50, p99, failed, status = (int(v) for v in line.split()[1:])
    sample = next((x[7:] for x in done.stdout.splitlines() if x.startswith("sample ")), "")
    # A non-200 answer is counted by response() too; wrk's own count says the same.
    return Result(requests, micros / 1e6, p50 / 1000, p99 / 1000, max(failed, status), sample=sample.strip())


def run_python(base: str, plan: Plan, connections: int, duration: float) -> Result:
    """bench/load.py in its own process, the plan on its standard input, a Result as JSON out."""
    command = [sys.executable, str(BENCH / "load.py"), base, f"--connections={connections}"]
    command.append(f"--duration={duration}")
    done = subprocess.run(command, input=json.dumps(asdict(plan)), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench/load.py failed:\n{done.stderr[-4000:]}")
    return Result(**json.loads(done.stdout))


def drive(kind: str, base: str, plan: Plan, connections: int, duration: float) -> Result:
    """Run `plan` against `base` with wrk or bench/load.py (`kind`); bursts always use load.py.
    The result carries the server's CPU time per request over the run."""
    before, database, load = server_cpu(base), database_cpu(), _children_cpu()
    if kind == "wrk" and not plan.rounds and not plan.refusals:
        result = run_wrk(base, plan, connections, duration)
    else:
        result = run_python(base, plan, connections, duration)
    if before and result.requests:
        result.cpu_ms = 1000 * (server_cpu(base) - before) / result.requests
        result.database_cpu_ms = 1000 * database_cpu_since(database) / result.requests
        result.load_cpu_ms = 1000 * (_children_cpu() - load) / result.requests
    return result


def _children_cpu() -> float:
    # The load process is a child that has ended by the time its result is read.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_kind(requested: str) -> str:
    """`auto`: wrk where it is on PATH, else bench/load.py."""
    if requested == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk); use --load python")
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    return requested


# ---------------------------------------------------------------------------- the report


@dataclass
class Row:
    """One line of the table: what was measured, on which side, and how it went."""

    what: str
    side: str
    result: Result
    at: str = field(default_factory=load)
    unit: str = "req/s"
    per: int = 1  # requests per unit (an order is two)

    @property
    def rate(self) -> float:
        return self.result.rate / self.per


def print_row(row: Row) -> None:
    r = row.result
    extra = f"  refused {r.refused}" if r.refused else ""
    if row.per != 1:
        extra += f"  ({r.rate:.0f} req/s)"
    if r.cpu_ms:
        extra += f"  CPU ms/request: server {r.cpu_ms:.3f}, database {r.database_cpu_ms:.3f}, load {r.load_cpu_ms:.3f}"
    print(
        f"  {row.what:<14} {row.side:<8} {row.rate:9.0f} {row.unit}  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms"
        f"  requests {r.requests}{extra}  failed {r.failed}  load {row.at}",
        flush=True,
    )
    if r.failed:
        print(f"    first failure: {r.sample}", flush=True)


def print_table(rows: list[Row]) -> None:
    """The runs as a Markdown table, then each measurement's gateway/floor ratio."""
    print()
    print(
        "| measured | side | rate | p50 ms | p99 ms | CPU ms/request: server, database, load | requests | failed | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        r = row.result
        cpu = f"{r.cpu_ms:.3f}, {r.database_cpu_ms:.3f}, {r.load_cpu_ms:.3f}" if r.cpu_ms else "-"
        print(
            f"| {row.what} | {row.side} | {row.rate:,.0f} {row.unit} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {cpu} | {r.requests} | {r.failed} | {row.at} |"
        )
    print()
    for what in dict.fromkeys(row.what for row in rows):
        floor = [x.rate for x in rows if x.what == what and x.side == "floor"]
        ours = [x.rate for x in rows if x.what == what and x.side == "gateway"]
        if floor and ours and max(floor) > 0:
            print(f"{what}: gateway/floor = {max(ours) / max(floor):.2f} (best runs)")


def failures(rows: list[Row]) -> int:
    """How many requests failed over all rows; says so on stderr when any did."""
    failed = sum(row.result.failed for row in rows)
    if failed:
        print(f"{failed} requests failed: the ratios above are not valid", file=sys.stderr)
    return failed
