"""The ledger audit: every invariant of DESIGN.md checked over a live database.

Each invariant is one set-based query (grouped sums, no row-by-row reading), so the
audit stays fast on millions of lots; what breaks one comes back per wallet. It only
reads. An operator runs it as `loyalty audit`; the tests assert the same invariants
after every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyalty import sql


@dataclass(frozen=True)
class Violation:
    """One broken invariant: the wallet (None where no wallet is known), which one, the numbers."""

    wallet_id: int | None
    invariant: str
    detail: str


_SUMS = """
WITH e AS (SELECT wallet_id, SUM(amount) AS s FROM entry GROUP BY wallet_id),
l AS (SELECT wallet_id, SUM(remaining) AS s FROM lot GROUP BY wallet_id),
h AS (SELECT wallet_id, SUM(amount) AS s FROM draw WHERE entry_id IS NULL AND order_id IS NOT NULL
      GROUP BY wallet_id)
SELECT w.id AS wallet_id, COALESCE(e.s, 0) AS entries, COALESCE(l.s, 0) AS remaining,
       COALESCE(h.s, 0) AS held, w.debt AS debt
FROM wallet w
LEFT JOIN e ON e.wallet_id = w.id LEFT JOIN l ON l.wallet_id = w.id LEFT JOIN h ON h.wallet_id = w.id
WHERE COALESCE(e.s, 0) <> COALESCE(l.s, 0) + COALESCE(h.s, 0) - w.debt
ORDER BY w.id
"""

_LOTS = """
SELECT wallet_id, id, amount, remaining FROM lot
WHERE remaining < 0 OR remaining > amount OR amount <= 0 ORDER BY wallet_id, id
"""

_DEBTS = "SELECT id AS wallet_id, debt FROM wallet WHERE debt < 0 ORDER BY id"

_ZERO_ENTRIES = "SELECT wallet_id, id FROM entry WHERE amount = 0 ORDER BY wallet_id, id"

_DRAWS = "SELECT wallet_id, id, amount FROM draw WHERE amount <= 0 ORDER BY wallet_id, id"

# Per order: what it holds (draws without an entry) and what it spent (draws with one).
_ORDERS = """
WITH d AS (
  SELECT order_id,
         SUM(CASE WHEN entry_id IS NULL THEN amount ELSE 0 END) AS held,
         SUM(CASE WHEN entry_id IS NOT NULL THEN amount ELSE 0 END) AS spent
  FROM draw WHERE order_id IS NOT NULL GROUP BY order_id
)
SELECT o.wallet_id, o.id, o.status, o.bonus_spent, o.bonus_requested,
       COALESCE(d.held, 0) AS held, COALESCE(d.spent, 0) AS spent
FROM orders o LEFT JOIN d ON d.order_id = o.id
WHERE (o.status = 'CREATED' AND COALESCE(d.held, 0) <> o.bonus_spent)
   OR (o.status = 'CANCELLED' AND (COALESCE(d.held, 0) <> 0 OR o.bonus_spent <> 0))
   OR (o.status NOT IN ('CREATED', 'CANCELLED')
       AND (COALESCE(d.held, 0) <> 0 OR COALESCE(d.spent, 0) <> o.bonus_spent OR o.bonus_spent > o.bonus_requested))
ORDER BY o.wallet_id, o.id
"""

_GIFTS = """
SELECT wallet_id, campaign_id, COUNT(*) AS n FROM entry
WHERE kind = 'GIFT' AND campaign_id IS NOT NULL
GROUP BY wallet_id, campaign_id HAVING COUNT(*) > 1 ORDER BY wallet_id, campaign_id
"""


async def audit() -> list[Violation]:
    """Every ledger invariant over every wallet; [] when the ledger is whole.

    For each wallet: its entries sum to its lots' remaining plus what unpaid orders
    hold, minus its debt; no lot's remaining is below 0 or above its amount, and no
    lot is empty from the start; the debt is never negative; no entry is of 0 and no
    draw takes 0 or less; an unpaid order holds exactly what it will spend, a
    cancelled one nothing, a paid or refunded one spent what it recorded and never
    more than was asked; no campaign gave one wallet its gift twice (CA-04).
    """
    found: list[Violation] = []
    for row in await sql.fetch(_SUMS):
        found.append(
            Violation(
                int(row["wallet_id"]),
                "entries = remaining + held - debt",
                f"entries {row['entries']} != remaining {row['remaining']} + held {row['held']} - debt {row['debt']}",
            )
        )
    for row in await sql.fetch(_LOTS):
        found.append(
            Violation(
                int(row["wallet_id"]),
                "0 <= lot remaining <= amount",
                f"lot {row['id']}: remaining {row['remaining']} of {row['amount']}",
            )
        )
    for row in await sql.fetch(_DEBTS):
        found.append(Violation(int(row["wallet_id"]), "debt >= 0", f"debt {row['debt']}"))
    for row in await sql.fetch(_ZERO_ENTRIES):
        found.append(Violation(int(row["wallet_id"]), "entry amount != 0", f"entry {row['id']} of 0"))
    for row in await sql.fetch(_DRAWS):
        found.append(Violation(int(row["wallet_id"]), "draw amount > 0", f"draw {row['id']} of {row['amount']}"))
    for row in await sql.fetch(_ORDERS):
        wallet = int(row["wallet_id"]) if row["wallet_id"] is not None else None
        found.append(
            Violation(
                wallet,
                "an order holds or spent what it recorded",
                f"order {row['id']} ({row['status']}): holds {row['held']}, spent {row['spent']},"
                f" recorded {row['bonus_spent']} of {row['bonus_requested']} asked",
            )
        )
    for row in await sql.fetch(_GIFTS):
        found.append(
            Violation(
                int(row["wallet_id"]),
                "a gift is granted once",
                f"campaign {row['campaign_id']}: {row['n']} gifts",
            )
        )
    return found
