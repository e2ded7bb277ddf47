"""The mobile app's hot reads as plain values, each in one statement (issue 11).

What `participants.recognise`, `participants.wallets_of`, `ledger.balances`,
`ledger.next_burns` and `ledger.history` read for the `Wallets` and `BonusHistory`
documents, fetched together: the participant by customer id with their wallets and
balances, or with one wallet's balance and a page of its history. No ORM objects are
built; timestamps come back as aware UTC datetimes, as the ORM gives them.

These functions only read. Whether the caller's token brings contacts that
`recognise` would write (`brings_contacts`) is the caller's to check: such a read is
answered by the ordinary path, which writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty import clock, sql
from loyalty.enums import EntryKind, ParticipantStatus, WalletStatus
from loyalty.erasure import erased_digest

# The largest BIGINT: "before no cursor" reads every entry.
_NO_CURSOR = 2**63 - 1

_ACTIVE = "l.remaining > 0 AND l.activates_at <= $2 AND (l.expires_at IS NULL OR l.expires_at > $2)"
_BURNING = "l.remaining > 0 AND l.activates_at <= $2 AND l.expires_at > $2"

# One row per wallet (one row with null wallet columns for a participant without any),
# in order of joining. Balances as `ledger.balances`, the next burn as `ledger.next_burns`.
_WALLETS = f"""
SELECT p.id AS pid, p.customer_id, p.status AS p_status, p.display_name, p.marketing_consent,
  p.email, p.email_verified, p.phone, p.phone_verified,
  w.id AS wallet_id, w.program_id, w.status AS w_status, w.tier, w.debt,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND {_ACTIVE}) AS active,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id
     AND l.remaining > 0 AND l.activates_at > $2) AS pending,
  (SELECT MIN(l.expires_at) FROM lot l WHERE l.wallet_id = w.id AND {_BURNING}) AS burn_at,
  (SELECT SUM(l.remaining) FROM lot l WHERE l.wallet_id = w.id AND {_BURNING}
     AND l.expires_at = (SELECT MIN(m.expires_at) FROM lot m WHERE m.wallet_id = w.id
       AND m.remaining > 0 AND m.activates_at <= $2 AND m.expires_at > $2)) AS burn_amount
FROM participant p LEFT JOIN wallet w ON w.participant_id = p.id
WHERE p.customer_id = $1
ORDER BY w.joined_at, w.id
"""

# One row per entry of the page (newest first), or one row with null entry columns.
_HISTORY = f"""
WITH p AS (
  SELECT id, customer_id, status, email, email_verified, phone, phone_verified
  FROM participant WHERE customer_id = $1
), w AS (
  SELECT id, status FROM wallet WHERE participant_id = (SELECT id FROM p) AND program_id = $3
), b AS (
  SELECT COALESCE(SUM(l.remaining), 0) AS active FROM lot l WHERE l.wallet_id = (SELECT id FROM w) AND {_ACTIVE}
), e AS (
  SELECT id, kind, amount, at, activates_at, expires_at, description, order_id, campaign_id, rule, lot_id
  FROM entry WHERE wallet_id = (SELECT id FROM w) AND id < $4 ORDER BY id DESC LIMIT $5
)
SELECT p.id AS pid, p.customer_id, p.status AS p_status, p.email, p.email_verified, p.phone, p.phone_verified,
  w.id AS wallet_id, w.status AS w_status, b.active,
  e.id AS entry_id, e.kind, e.amount, e.at, e.activates_at, e.expires_at, e.description, e.order_id,
  e.campaign_id, e.rule, lot.id AS lot_id, lot.activates_at AS lot_activates_at, lot.expires_at AS lot_expires_at
FROM p LEFT JOIN w ON 1 = 1 CROSS JOIN b LEFT JOIN e ON 1 = 1 LEFT JOIN lot ON lot.id = e.lot_id
ORDER BY e.id DESC
"""


@dataclass(frozen=True)
class Person:
    """The participant as `recognise` finds them, with the contacts on record."""

    id: int
    customer_id: str
    status: ParticipantStatus
    display_name: str | None
    marketing_consent: bool
    contacts: tuple[str | None, bool, str | None, bool]  # email, verified, phone, verified


@dataclass(frozen=True)
class WalletRead:
    """One wallet with its balance now and its next burn (LB-05, LB-10)."""

    id: int
    participant_id: int
    program_id: str
    status: WalletStatus
    staff_tier: str | None
    active: int
    pending: int
    debt: int
    burn_at: datetime | None
    burn_amount: int


@dataclass(frozen=True)
class EntryRead:
    """One ledger entry as `ledger.history` gives it: a credit's validity is its lot's where the lot is known."""

    id: int
    kind: EntryKind
    amount: int
    at: datetime
    activates_at: datetime | None
    expires_at: datetime | None
    description: str | None
    order_id: str | None
    campaign_id: int | None
    rule: str | None


@dataclass(frozen=True)
class HistoryRead:
    """One wallet's active balance and a page of its entries, newest first."""

    wallet_id: int
    status: WalletStatus
    active: int
    entries: list[EntryRead]
    has_next: bool


def _person(row: Mapping[str, Any]) -> Person:
    return Person(
        id=int(row["pid"]),
        customer_id=str(row["customer_id"]),
        status=ParticipantStatus(row["p_status"]),
        display_name=row.get("display_name"),
        marketing_consent=bool(row.get("marketing_consent")),
        contacts=(row["email"], bool(row["email_verified"]), row["phone"], bool(row["phone_verified"])),
    )


def _moment(value: Any) -> datetime:
    moment = sql.as_datetime(value)
    assert moment is not None
    return moment


async def wallets_of_customer(customer_id: str) -> tuple[Person, list[WalletRead]] | None:
    """The participant with this customer id and every wallet of theirs in order of joining,
    balances now (LB-05) and next burn with each; None where no participant has this id.

    One statement. An erased participant (LB-16) is not found by their customer id.
    """
    rows = await sql.fetch(_WALLETS, customer_id, clock.now())
    if not rows:
        return None
    wallets = [
        WalletRead(
            id=int(row["wallet_id"]),
            participant_id=int(row["pid"]),
            program_id=str(row["program_id"]),
            status=WalletStatus(row["w_status"]),
            staff_tier=row["tier"],
            active=int(row["active"]),
            pending=int(row["pending"]),
            debt=int(row["debt"]),
            burn_at=sql.as_datetime(row["burn_at"]),
            burn_amount=int(row["burn_amount"] or 0),
        )
        for row in rows
        if row["wallet_id"] is not None
    ]
    return _person(rows[0]), wallets


async def history_of_customer(
    customer_id: str, program_id: str, first: int, before: int | None
) -> tuple[Person, HistoryRead | None] | None:
    """The participant with this customer id, and their wallet in `program_id` with its
    active balance and `first` entries before the entry id `before`, newest first (LB-05).

    None where no participant has this id; the wallet is None where they have not joined
    the program. One statement. `first` is checked by the caller (pagination.check_first).
    """
    rows = await sql.fetch(
        _HISTORY, customer_id, clock.now(), program_id, _NO_CURSOR if before is None else before, first + 1
    )
    if not rows:
        return None
    person = _person(rows[0])
    if rows[0]["wallet_id"] is None:
        return person, None
    entries = [_entry(row) for row in rows if row["entry_id"] is not None]
    page = HistoryRead(
        wallet_id=int(rows[0]["wallet_id"]),
        status=WalletStatus(rows[0]["w_status"]),
        active=int(rows[0]["active"]),
        entries=entries[:first],
        has_next=len(entries) > first,
    )
    return person, page


def _entry(row: Mapping[str, Any]) -> EntryRead:
    amount = int(row["amount"])
    activates, expires = row["activates_at"], row["expires_at"]
    if amount > 0 and row["lot_id"] is not None:
        # A credit's validity as known now: its lot's (MG-06, LB-03), as ledger.history reads it.
        activates, expires = row["lot_activates_at"], row["lot_expires_at"]
    return EntryRead(
        id=int(row["entry_id"]),
        kind=EntryKind(row["kind"]),
        amount=amount,
        at=_moment(row["at"]),
        activates_at=sql.as_datetime(activates),
        expires_at=sql.as_datetime(expires),
        description=row["description"],
        order_id=row["order_id"],
        campaign_id=None if row["campaign_id"] is None else int(row["campaign_id"]),
        rule=row["rule"],
    )


async def was_erased(customer_id: str, erasure_key: bytes) -> bool:
    """Whether this customer id was a participant since erased (LB-16): `recognise` finds them
    by the pseudonym's digest where no participant has the id."""
    digest = erased_digest(erasure_key, customer_id)
    return bool(await sql.fetch("SELECT 1 AS one FROM participant WHERE erased_digest = $1", digest))
