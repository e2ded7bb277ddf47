"""What an order may spend and what paying it earns: pure rules, no database (LB-01, LB-02, LB-08).

Each function decides from the program, the order's and the buyer's facts and the
stored participant and wallet it is handed; none reads or writes anything.
"""

from __future__ import annotations

from loyalty.enums import ParticipantStatus, WalletStatus, standing
from loyalty.facts import Credit, Limit, OrderFacts, ParticipantFacts
from loyalty.models import Participant, Wallet
from loyalty.programs import Program


def outside_organizers(program: Program, order: OrderFacts) -> bool:
    """MG-07: the program covers only its organizers' events, and the order has another's."""
    return bool(program.organizers) and any(item.event.organizer_id not in program.organizers for item in order.items)


def erased(participant: Participant | None) -> bool:
    """LB-16: the participant's data was erased; their wallet's ledger stays pseudonymous."""
    return participant is not None and participant.status is ParticipantStatus.ERASED


def blocked_rule(participant: Participant | None) -> str:
    """The rule that keeps a blocked wallet from spending: LB-16 once erased, else MG-13."""
    return "LB-16" if erased(participant) else "MG-13"


def spend_limit(
    program: Program,
    order: OrderFacts,
    who: ParticipantFacts,
    participant: Participant | None,
    wallet: Wallet | None,
    available: int,
) -> tuple[int, str | None]:
    """The most bonuses this order may spend, and the rule that limits it (None: the balance)."""
    if wallet is None:
        return 0, None
    status = standing(participant.status, wallet.status) if participant else wallet.status
    if status is WalletStatus.BLOCKED:
        return 0, blocked_rule(participant)  # the wallet's own block or the global one (MG-13)
    if status is WalletStatus.PENDING:
        return 0, "LB-01"
    if outside_organizers(program, order):
        return 0, "MG-07"
    for refusal in program.rules.order_refusals(order, who):
        if refusal.what == "spend":
            return 0, refusal.rule
    cap = spend_cap(program, order, who)
    if cap is not None and cap.max_bonus < available:
        return max(cap.max_bonus, 0), cap.rule
    return available, None


def spend_cap(program: Program, order: OrderFacts, who: ParticipantFacts) -> Limit | None:
    """The smallest cap on the bonuses the order may be paid with (LB-08, MG-08); None: no cap."""
    return min(program.rules.redemption_limit(order, who), key=lambda limit: limit.max_bonus, default=None)


def _earns(program: Program, order: OrderFacts, who: ParticipantFacts, participant: Participant | None) -> bool:
    if who.wallet_status is not WalletStatus.ACTIVE:
        return False  # LB-01: not joined, unverified, or blocked
    if participant is None or participant.status is not ParticipantStatus.ACTIVE:
        return False
    if outside_organizers(program, order):
        return False  # MG-07
    return not any(refusal.what == "earn" for refusal in program.rules.order_refusals(order, who))


def planned_credits(
    program: Program, order: OrderFacts, who: ParticipantFacts, participant: Participant | None
) -> list[Credit]:
    """The credits paying this order would write (LB-02, PL-01); [] where it earns nothing."""
    if not _earns(program, order, who, participant):
        return []
    return [credit for credit in program.rules.accrual_credits(order, who) if credit.amount > 0]
