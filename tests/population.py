"""Many participants at once, set-based (for campaign tests and bench/campaign.py).

`populate` writes N participants with one wallet each in two INSERT ... SELECT
statements, on SQLite or PostgreSQL, through the ORM's connection.
"""

from __future__ import annotations

from datetime import datetime

from loyalty import clock, sql


def _numbers(count_param: str) -> tuple[str, str]:
    """A FROM clause yielding n = 1..count, and the expression of n."""
    if sql.is_postgres():
        return f"generate_series(1, {count_param}) AS g(n)", "g.n"
    return (
        f"(WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count_param})"
        " SELECT n FROM g) AS g",
        "g.n",
    )


async def populate(
    prefix: str,
    count: int,
    program_id: str = "live-brighter",
    *,
    wallet_status: str = "ACTIVE",
    participant_status: str = "ACTIVE",
    tier: str | None = None,
    rules_version: str = "2021-1",
    at: datetime | None = None,
) -> int:
    """Participants `<prefix>1` .. `<prefix><count>`, each with a wallet in the program."""
    now = at or clock.now()
    source, n = _numbers("$3")
    await sql.execute(
        "INSERT INTO participant (customer_id, status, guardian_consent, marketing_consent,"
        " email, email_verified, phone_verified, personal_data_consent_at, created_at)"
        f" SELECT CAST($1 AS TEXT) || {n}, $4, FALSE, TRUE, CAST($1 AS TEXT) || {n} || '@example.com', TRUE, FALSE, $2, $2 FROM {source}",
        prefix,
        now,
        count,
        participant_status,
    )
    await sql.execute(
        "INSERT INTO wallet (participant_id, program_id, status, tier, debt,"
        " rules_accepted_at, rules_version, joined_at)"
        " SELECT p.id, $2, $3, $4, 0, $5, $6, $5 FROM participant p"
        " WHERE p.customer_id LIKE CAST($1 AS TEXT) || '%'",
        prefix,
        program_id,
        wallet_status,
        tier,
        now,
        rules_version,
    )
    rows = await sql.fetch(
        "SELECT COUNT(*) AS n FROM participant WHERE customer_id LIKE CAST($1 AS TEXT) || '%'", prefix
    )
    return int(rows[0]["n"])
