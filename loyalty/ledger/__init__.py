"""The ledger: lots, entries, holds and debt of one wallet, and the burns of all.

Invariants (checked after every test scenario):
  for each wallet, sum(entries) == sum(lots.remaining) + held - debt, where held is
  what unpaid orders' draws hold; 0 <= lot.remaining <= lot.amount.

`balances` reads what a wallet holds, `history` its entries, `writes` changes it under
the wallet's lock, `burns` is the job that writes the BURN entries. The package
re-exports their public names, so `ledger.balance(...)` reads as before.
"""

from __future__ import annotations

from loyalty.ledger.balances import Balance, BurnForecast, balance, balances, next_burns
from loyalty.ledger.burns import burn_expired
from loyalty.ledger.history import Page, entry_cursor, history
from loyalty.ledger.writes import (
    Revocation,
    credit,
    debit,
    extend_expiry,
    hold,
    lock_wallet,
    release_held,
    repay_debt,
    revoke_order,
    take_held,
    withhold,
)

__all__ = [
    "Balance",
    "BurnForecast",
    "Page",
    "Revocation",
    "balance",
    "balances",
    "burn_expired",
    "credit",
    "debit",
    "entry_cursor",
    "extend_expiry",
    "history",
    "hold",
    "lock_wallet",
    "next_burns",
    "release_held",
    "repay_debt",
    "revoke_order",
    "take_held",
    "withhold",
]
