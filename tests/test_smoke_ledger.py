from datetime import timedelta

from loyalty import clock, ledger
from tests import scenario


async def test_lb02_accrual_activates_at_event_start_and_can_be_spent(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    order = await scenario.buy(catalog, "o1", "c1", scenario.ticket("t1", "e1", "10000.00"))
    # concert 5 % of 10,000 = 500
    assert order.bonus_accrued == 500
    assert await ledger.balance(wallet.id) == ledger.Balance(active=0, pending=500)
    clock.advance(timedelta(days=1))
    assert (await ledger.balance(wallet.id)).active == 500
    # cap 30 % of 1,000 = 300
    await scenario.event("e2", "concert", starts_in=timedelta(days=5))
    paid = await scenario.buy(catalog, "o2", "c1", scenario.ticket("t2", "e2", "1000.00"), spend=300)
    assert paid.bonus_spent == 300
    assert (await ledger.balance(wallet.id)).active == 200
