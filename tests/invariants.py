"""The ledger invariants of DESIGN.md, checked after every scenario by one helper."""

from __future__ import annotations

from collections import defaultdict

from loyalty.enums import OrderStatus
from loyalty.models import Draw, Entry, Lot, Order, Wallet


async def assert_ledger_invariants() -> None:
    """For every wallet: sum(entries) == sum(lots.remaining) + held - debt;
    0 <= remaining <= amount for every lot; debt >= 0; no unpaid order holds more than it
    asked; no paid order spent above what it recorded; a cancelled order holds nothing."""
    entries: dict[int, int] = defaultdict(int)
    for row in await Entry.all().values("wallet_id", "amount"):
        entries[row["wallet_id"]] += row["amount"]
    remaining: dict[int, int] = defaultdict(int)
    for lot in await Lot.all().values("id", "wallet_id", "amount", "remaining"):
        assert 0 <= lot["remaining"] <= lot["amount"], f"lot {lot['id']} remaining out of range: {lot}"
        remaining[lot["wallet_id"]] += lot["remaining"]
    held: dict[int, int] = defaultdict(int)
    held_by_order: dict[str, int] = defaultdict(int)
    spent_by_order: dict[str, int] = defaultdict(int)
    for draw in await Draw.all().values("wallet_id", "amount", "entry_id", "order_id"):
        assert draw["amount"] > 0, f"a draw of {draw['amount']}"
        if draw["entry_id"] is None and draw["order_id"] is not None:
            held[draw["wallet_id"]] += draw["amount"]
            held_by_order[draw["order_id"]] += draw["amount"]
        elif draw["order_id"] is not None:
            spent_by_order[draw["order_id"]] += draw["amount"]
    for wallet in await Wallet.all().values("id", "debt"):
        assert wallet["debt"] >= 0, f"wallet {wallet['id']} has negative debt"
        expected = remaining[wallet["id"]] + held[wallet["id"]] - wallet["debt"]
        assert entries[wallet["id"]] == expected, (
            f"wallet {wallet['id']}: entries sum {entries[wallet['id']]} != remaining "
            f"{remaining[wallet['id']]} + held {held[wallet['id']]} - debt {wallet['debt']}"
        )
    for order in await Order.all().values("id", "status", "bonus_spent", "bonus_requested"):
        if order["status"] == OrderStatus.CREATED:
            assert held_by_order[order["id"]] == order["bonus_spent"], f"order {order['id']} hold mismatch"
        elif order["status"] == OrderStatus.CANCELLED:
            assert held_by_order[order["id"]] == 0 and order["bonus_spent"] == 0
        else:
            assert held_by_order[order["id"]] == 0
            assert spent_by_order[order["id"]] == order["bonus_spent"] <= order["bonus_requested"]
