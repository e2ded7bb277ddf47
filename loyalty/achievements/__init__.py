"""Gamification achievements (GA-01..GA-04, LB-17): defined by plugins, progress derived
from the facts, unlocked and rewarded once.

`definitions` asks the program's plugins and checks what they answer, `progress` counts
from the facts (one query per program), `unlock` unlocks and rewards in the payment's or
the referral payout's transaction and cancels a pending reward whose purchase is
returned (GA-03), `listing` is what the participant sees. The model lives in
`achievements.models`.
"""

from __future__ import annotations

from loyalty.achievements.definitions import COUNTS, InvalidAchievement, check, definitions, problems
from loyalty.achievements.listing import Standing, standing
from loyalty.achievements.unlock import Unlocked, on_order_paid, on_referral_rewarded, returned

__all__ = [
    "COUNTS",
    "InvalidAchievement",
    "Standing",
    "Unlocked",
    "check",
    "definitions",
    "on_order_paid",
    "on_referral_rewarded",
    "problems",
    "returned",
    "standing",
]
