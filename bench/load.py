"""The benchmarks' own load generator, for where wrk is not installed (and for bursts, which wrk cannot do).

    python bench/load.py http://127.0.0.1:PORT --connections 32 --duration 10 < plan.json

Runs in its own process, like wrk: N keep-alive HTTP/1.1 connections (asyncio streams,
requests written by hand, so the client costs little next to the server), each POSTing
the plan's templates to /graphql in turn (bench/harness.py, `Plan`), one request at a
time, until the duration is over. Prints a `Result` as JSON: requests, seconds,
p50/p99 latency, how many failed (status not 200, or GraphQL errors other than the
plan's `refusals` codes), how many were refused, and the first failed answer.

With `rounds` set, a burst instead: every connection sends its request at once, the
next round starting when all have answered; `@round@` (1-based) is filled in, so each
round can aim at a wallet of its own. Stops after `rounds` rounds or the duration;
the seconds are the rounds' own, and `per_round` says how many succeeded in each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class Connection:
    """One keep-alive HTTP/1.1 connection sending POST /graphql."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(
            f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            parts = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readline()
            answer = b"".join(part[:-2] for part in parts)
        else:
            answer = await self.reader.readexactly(length)
        if close:
            self.writer.close()
        return status, answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def outcome(status: int, body: bytes, refusals: set[str]) -> str:
    """ok, refused (GraphQL errors whose codes are all in `refusals`) or failed."""
    if status != 200:
        return "failed"
    if b'"errors"' not in body:
        return "ok"
    if refusals:
        try:
            errors = json.loads(body).get("errors") or []
        except ValueError:
            return "failed"
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        if errors and codes <= refusals:
            return "refused"
    return "failed"


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for none)."""
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))]


def fill(template: str, conn: int, seq: int, round_: int = 0, spread: int = 1) -> bytes:
    buyer = (conn - 1) * spread + seq % spread + 1  # the connection's own participants, in turn
    for mark, value in (("@conn@", conn), ("@seq@", seq), ("@round@", round_), ("@buyer@", buyer)):
        template = template.replace(mark, str(value))
    return template.encode()


class Tally:
    """What the connections saw."""

    def __init__(self, refusals: list[str]) -> None:
        self.refusals = set(refusals)
        self.latencies: list[float] = []
        self.failed = self.refused = 0
        self.sample = ""

    def count(self, started: float, status: int, body: bytes) -> str:
        self.latencies.append((time.perf_counter() - started) * 1000)
        seen = outcome(status, body, self.refusals)
        if seen == "failed":
            self.failed += 1
            if not self.sample:
                self.sample = f"{status} {body[:300].decode(errors='replace')}"
        elif seen == "refused":
            self.refused += 1
        return seen

    def result(self, seconds: float, per_round: list[int] | None = None) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": len(ordered),
            "seconds": seconds,
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "failed": self.failed,
            "refused": self.refused,
            "sample": self.sample,
            "per_round": per_round or [],
        }


async def steady(connections: list[Connection], plan: dict[str, Any], duration: float) -> dict[str, Any]:
    templates: list[str] = plan["templates"]
    tally = Tally(plan.get("refusals", []))
    began = time.perf_counter()
    until = began + duration

    async def run(number: int, connection: Connection) -> float:
        n = 0
        while time.perf_counter() < until:
            body = fill(templates[n % len(templates)], number, n // len(templates), spread=plan.get("spread", 1))
            started = time.perf_counter()
            try:
                status, answer = await connection.post(body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
                status, answer = 0, repr(error).encode()
                connection.close()
                connection.writer = None
            tally.count(started, status, answer)
            n += 1
        return time.perf_counter()

    ended = await asyncio.gather(*(run(i + 1, c) for i, c in enumerate(connections)))
    return tally.result(max(ended) - began)


async def burst(connections: list[Connection], plan: dict[str, Any], duration: float) -> dict[str, Any]:
    template: str = plan["templates"][0]
    tally = Tally(plan.get("refusals", []))
    per_round: list[int] = []
    spent = 0.0
    began = time.perf_counter()

    async def one(number: int, connection: Connection, round_: int) -> str:
        started = time.perf_counter()
        try:
            status, answer = await connection.post(fill(template, number, 0, round_))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            status, answer = 0, repr(error).encode()
            connection.close()
            connection.writer = None
        return tally.count(started, status, answer)

    for round_ in range(1, plan["rounds"] + 1):
        if time.perf_counter() - began > duration:
            break
        started = time.perf_counter()
        seen = await asyncio.gather(*(one(i + 1, c, round_) for i, c in enumerate(connections)))
        spent += time.perf_counter() - started
        per_round.append(seen.count("ok"))
    return tally.result(spent, per_round)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    plan = json.load(sys.stdin)
    where = urlsplit(args.url)
    assert where.hostname and where.port, args.url
    connections = [Connection(where.hostname, where.port, plan["headers"]) for _ in range(args.connections)]
    await asyncio.gather(*(c.open() for c in connections))
    try:
        measure = burst if plan.get("rounds") else steady
        result = await measure(connections, plan, args.duration)
    finally:
        for c in connections:
            c.close()
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
