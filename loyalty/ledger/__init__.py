"""The ledger: lots, entries, holds and debt of one wallet, and the burns of all.

Invariants (checked after every test scenario):
  for each wallet, sum(entries) == sum(lots.remaining) + held - debt, where held is
  what unpaid orders' draws hold; 0 <= lot.remaining <= lot.amount.

`balances` reads what a wallet holds, `history` its entries, `writes` (credits, debt)
and `spends` (holds, spends, debits) change it under the wallet's lock, `burns` is the
job that writes the BURN entries. The package re-exports their public names, so
`ledger.balance(...)` reads as before.
"""

from __future__ import annotations

from loyalty.ledger.balances import Balance, BurnForecast, balance, balances, next_burns
from loyalty.ledger.burns import burn_expired
from loyalty.ledger.history import Page, entry_cursor, history
from loyalty.ledger.spends import Hold, debit, held_statement, held_with, hold, release_held, take_held
from loyalty.ledger.writes import (
    Alongside,
    NewLot,
    Revocation,
    credit,
    credit_lots,
    extend_expiry,
    lock_wallet,
    lock_wallet_standing,
    repay_debt,
    revoke_order,
    withhold,
)

__all__ = [
    "Alongside",
    "Balance",
    "BurnForecast",
    "Hold",
    "NewLot",
    "Page",
    "Revocation",
    "balance",
    "balances",
    "burn_expired",
    "credit",
    "credit_lots",
    "debit",
    "entry_cursor",
    "extend_expiry",
    "held_statement",
    "held_with",
    "history",
    "hold",
    "lock_wallet",
    "lock_wallet_standing",
    "next_burns",
    "release_held",
    "repay_debt",
    "revoke_order",
    "take_held",
    "withhold",
]
