"""Attribution (RF-05, RF-07): an order that carries a referral code names its referrer, once.

Only the order that carries the code attributes, when it is recorded. The unique key
(program, attributed_friend) lets one referral per friend attribute; an order of the
same friend through another code, even recorded at the same instant, gets a REJECTED
referral with RF-07 (public reason ALREADY_REFERRED). A code that is unknown, of
another program, or excluded (RF-10) does not attribute, and the order is recorded as
usual: a sale is never refused for its referral code.
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.enums import OrderStatus, ReferralStatus
from loyalty.models import Order
from loyalty.programs import Program
from loyalty.referrals import fraud
from loyalty.referrals.codes import find
from loyalty.referrals.models import Referral, ReferralCode


async def attribute(program: Program, order: Order) -> Referral | None:
    """The referral the order's code makes (RF-05, RF-07); None where it makes none.

    Idempotent by order: recording the same order again answers the same referral.
    """
    if not order.referral_code:
        return None
    existing = await Referral.get_or_none(order_id=order.id)
    if existing is not None:
        return existing
    terms = program.rules.referral_terms()
    if terms is None:
        return None
    code = await find(order.referral_code)
    if code is None or code.program_id != program.id or code.blocked_at is not None:
        return None
    if code.customer_id == order.customer_id:
        # RF-08: the referrer buys through their own link; never attributes, counts as fraud.
        referral = await _create(code, order, attributed=False)
        await fraud.reject(referral, terms, "RF-08", "the referrer bought through their own link", is_fraud=True)
        return referral
    try:
        return await _create(code, order, attributed=True)
    except IntegrityError:
        pass
    again = await Referral.get_or_none(order_id=order.id)
    if again is not None:
        return again
    if await _repoint(code, order):
        return await Referral.get(order_id=order.id)
    referral = await _create(code, order, attributed=False)
    await fraud.reject(referral, terms, "RF-07", "the friend was already attributed to a referrer", is_fraud=False)
    return referral


async def _create(code: ReferralCode, order: Order, *, attributed: bool) -> Referral:
    async with in_transaction():
        return await Referral.create(
            program_id=code.program_id,
            code=code.code,
            referrer_id=code.participant_id,
            referrer_customer_id=code.customer_id,
            friend_customer_id=order.customer_id,
            attributed_friend=order.customer_id if attributed else None,
            order_id=order.id,
            at=clock.now(),
        )


async def _repoint(code: ReferralCode, order: Order) -> bool:
    """Decision: the friend's attributed order was cancelled unpaid, and a new order carries
    the same referrer's code: the one attribution moves to the new order."""
    async with in_transaction():
        holder = (
            await Referral.select_for_update()
            .filter(program_id=code.program_id, attributed_friend=order.customer_id)
            .first()
        )
        if holder is None or holder.status is not ReferralStatus.PENDING or holder.code != code.code:
            return False
        first = await Order.get_or_none(id=holder.order_id)
        if first is None or first.status is not OrderStatus.CANCELLED:
            return False
        holder.order_id = order.id
        holder.at = clock.now()
        await holder.save(update_fields=["order_id", "at"])
        return True
