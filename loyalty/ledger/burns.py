"""The burn job: BURN entries for the bonuses whose validity ended (LB-04)."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from loyalty import clock, sql

_BURN_PG = """
WITH due AS (
  SELECT id, wallet_id, remaining, expires_at, rules_version, campaign_id FROM lot
  WHERE expires_at <= $1 AND remaining > 0 AND id > $2
  ORDER BY id LIMIT $3
  FOR UPDATE SKIP LOCKED
), burn AS (
  INSERT INTO entry (wallet_id, kind, amount, at, description, campaign_id, lot_id, rule, rules_version)
  SELECT wallet_id, 'BURN', -remaining, expires_at, 'bonuses expired', campaign_id, id, 'LB-04', rules_version
  FROM due
), zero AS (
  UPDATE lot SET remaining = 0 FROM due WHERE lot.id = due.id
)
SELECT COUNT(*) AS n, MAX(id) AS last FROM due
"""


async def _burn_chunk_sqlite(now: datetime, after: int, chunk: int) -> tuple[int, int | None]:
    ids = await sql.fetch(
        "SELECT id FROM lot WHERE expires_at <= $1 AND remaining > 0 AND id > $2 ORDER BY id LIMIT $3",
        now,
        after,
        chunk,
    )
    if not ids:
        return 0, None
    last = int(ids[-1]["id"])
    await sql.execute(
        "INSERT INTO entry (wallet_id, kind, amount, at, description, campaign_id, lot_id, rule, rules_version)"
        " SELECT wallet_id, 'BURN', -remaining, expires_at, 'bonuses expired', campaign_id, id, 'LB-04',"
        " rules_version FROM lot WHERE expires_at <= $1 AND remaining > 0 AND id > $2 AND id <= $3",
        now,
        after,
        last,
    )
    await sql.execute(
        "UPDATE lot SET remaining = 0 WHERE expires_at <= $1 AND remaining > 0 AND id > $2 AND id <= $3",
        now,
        after,
        last,
    )
    return len(ids), last


async def burn_expired(chunk: int = 50_000) -> int:
    """Write BURN entries for every lot whose validity ended with bonuses left (LB-04).

    Balances are already right without it; this makes history and reports (a
    campaign's bonusBurned, CA-05) show the burns. Each BURN entry carries the lot, its
    campaign, the instant of expiry as its time, and what was left in the lot.

    Set-based: each chunk of `chunk` lots (in id order) is one statement on PostgreSQL
    (INSERT the entries and zero the lots together), three on SQLite, in its own
    transaction. Idempotent: a burned lot has nothing left to burn. Safe alongside
    spends and other burn runs: lots locked by them are skipped (SKIP LOCKED) and
    left for the next run. Returns how many lots burned.
    """
    now = clock.now()
    burned = 0
    after = 0
    postgres = sql.is_postgres()
    while True:
        async with in_transaction():
            if postgres:
                rows = await sql.fetch(_BURN_PG, now, after, int(chunk))
                count, last = int(rows[0]["n"]), rows[0]["last"]
            else:
                count, last = await _burn_chunk_sqlite(now, after, int(chunk))
        if not count or last is None:
            return burned
        burned += count
        if count < chunk:
            return burned
        after = int(last)
