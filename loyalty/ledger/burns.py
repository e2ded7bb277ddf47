"""The burn job: BURN entries for the bonuses whose validity ended (LB-04)."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from loyalty import clock, sql

# The due lots of one chunk: their id range, and the wallets they belong to.
_CHUNK = """
SELECT COUNT(*) AS n, MAX(id) AS last FROM (
  SELECT id FROM lot WHERE expires_at <= $1 AND remaining > 0 AND id > $2 ORDER BY id LIMIT $3
) due
"""

# Wallets first, in id order, as every writer takes them; one busy with a spend or a
# refund is skipped (never waited for, so never a deadlock) and burns on the next run.
_LOCK_WALLETS_PG = """
SELECT id FROM wallet WHERE id IN (
  SELECT wallet_id FROM lot WHERE expires_at <= $1 AND remaining > 0 AND id > $2 AND id <= $3
) ORDER BY id FOR UPDATE SKIP LOCKED
"""

# A statement of its own, so its snapshot is taken after the wallet locks: whatever the
# lots' last writer committed is seen, and the lots are re-read under their own lock.
_BURN_PG = """
WITH due AS (
  SELECT id, wallet_id, remaining, expires_at, rules_version, campaign_id FROM lot
  WHERE expires_at <= $1 AND remaining > 0 AND id > $2 AND id <= $3 AND wallet_id = ANY($4::bigint[])
  FOR UPDATE
), burn AS (
  INSERT INTO entry (wallet_id, kind, amount, at, description, campaign_id, lot_id, rule, rules_version)
  SELECT wallet_id, 'BURN', -remaining, expires_at, 'bonuses expired', campaign_id, id, 'LB-04', rules_version
  FROM due
), zero AS (
  UPDATE lot SET remaining = 0 FROM due WHERE lot.id = due.id
)
SELECT COUNT(*) AS n FROM due
"""


async def _burn_chunk_postgres(now: datetime, after: int, chunk: int) -> tuple[int, int, int | None]:
    seen = await sql.fetch(_CHUNK, now, after, chunk)
    count, last = int(seen[0]["n"]), seen[0]["last"]
    if not count or last is None:
        return 0, 0, None
    wallets = [int(row["id"]) for row in await sql.fetch(_LOCK_WALLETS_PG, now, after, int(last))]
    if not wallets:
        return count, 0, int(last)
    rows = await sql.fetch(_BURN_PG, now, after, int(last), wallets)
    return count, int(rows[0]["n"]), int(last)


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
    transaction. Idempotent: a burned lot has nothing left to burn. On PostgreSQL
    it takes the wallets' locks first, in id order, as every writer of a wallet does,
    and re-reads the lots under them: a refund revoking the same lots (`revoke_order`)
    or a spend drawing them runs wholly before or after, never in between. A wallet
    locked by another writer is skipped (SKIP LOCKED: never waited for, so never a
    deadlock) and left for the next run; SQLite has one writer at a time. Returns how
    many lots burned.
    """
    now = clock.now()
    burned = 0
    after = 0
    postgres = sql.is_postgres()
    while True:
        async with in_transaction():
            if postgres:
                seen, count, last = await _burn_chunk_postgres(now, after, int(chunk))
            else:
                count, last = await _burn_chunk_sqlite(now, after, int(chunk))
                seen = count
        if not seen or last is None:
            return burned
        burned += count
        if seen < chunk:
            return burned
        after = int(last)
