"""Exact arithmetic for money and bonuses: Decimal money, int bonuses, percentages rounded down."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")


def parse_money(value: str | Decimal | int, what: str = "amount") -> Decimal:
    """A non-negative money amount with at most two decimals; ValueError otherwise."""
    amount = Decimal(value) if not isinstance(value, Decimal) else value
    if not amount.is_finite():
        raise ValueError(f"{what} is not a number")
    if amount < 0:
        raise ValueError(f"{what} is negative")
    if amount != amount.quantize(CENT):
        raise ValueError(f"{what} has more than two decimals")
    return amount.quantize(CENT)


def percent_down(base: Decimal | Fraction | int, percent: Decimal | int) -> int:
    """`percent` % of `base`, rounded down to a whole bonus; never negative."""
    if base <= 0 or percent <= 0:
        return 0
    # Exact in integers: each number as its ratio of whole numbers (no Fraction built).
    base_num, base_den = base.as_integer_ratio()
    percent_num, percent_den = percent.as_integer_ratio()
    return (base_num * percent_num) // (base_den * percent_den * 100)


def bonus_to_money(bonuses: int) -> Decimal:
    """Bonuses as money at 1 bonus = 1 unit of the program's currency."""
    return Decimal(bonuses).quantize(CENT)


def allocate(total: int, weights: Sequence[Decimal]) -> list[int]:
    """Split `total` whole bonuses over `weights` in proportion (largest remainder).

    The parts sum to `total` exactly; ties go to the earlier weight, so the split is
    deterministic. All-zero weights put everything on nothing (every part 0) unless
    total is 0.
    """
    if total < 0:
        raise ValueError("cannot allocate a negative total")
    if total == 0:
        return [0] * len(weights)  # nothing to split: no fractions built (every order that spends nothing)
    whole = sum((Fraction(w) for w in weights), Fraction(0))
    if whole == 0:
        if total and not weights:
            raise ValueError("nothing to allocate over")
        parts = [0] * len(weights)
        if total and weights:
            parts[0] = total
        return parts
    exact = [Fraction(w) * total / whole for w in weights]
    parts = [int(e) for e in exact]
    short = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:short]:
        parts[i] += 1
    return parts
