"""The partner API: every hook a plugin may implement.

This is the one file a partner reads. A plugin is a class; its methods marked with
``@hookimpl`` and named exactly as a hook below are called by the gateway. Decision
hooks are synchronous and pure: they get plain frozen data about the order and the
participant (``loyalty.facts``) and return amounts. They never touch the database,
so they are fast, easy to test, and cannot corrupt the ledger.

A plugin is enabled in ``plugins.toml``::

    [plugins.my_rule]
    programs = ["live-brighter"]   # hooks run only for these programs' orders
    optional = false               # true: if the plugin raises, log and skip it (PL-03)
    [plugins.my_rule.settings]     # validated against the plugin's Settings model
    multiplier = 2

and found by name among the built-ins or the ``loyalty.plugins`` entry points of
installed packages. A plugin class looks like::

    from decimal import Decimal
    from pydantic import BaseModel
    from loyalty.facts import Credit
    from plugins import hookimpl

    class MyRule:
        class Settings(BaseModel):
            percent: Decimal = Decimal(5)

        def __init__(self, settings: "MyRule.Settings") -> None:
            self.settings = settings

        @hookimpl
        def accrual_credits(self, order, participant):
            ...

Failure policy (PL-03): when a hook raises, the whole operation is refused and
nothing is written; the log names the plugin. Where ``plugins.toml`` marks the plugin
``optional = true``, its answer is left out instead and the error is logged.
"""

from __future__ import annotations

import pluggy

from loyalty.facts import Credit, Limit, OrderFacts, ParticipantFacts, RefundFacts, RefundTerms, Refusal

PROJECT = "loyalty"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def accrual_credits(order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
    """The bonuses this order earns when paid, by this plugin's rules (LB-02, PL-01).

    :param order: the order; ``order.tickets`` its tickets, each with ``event``
        (category, start, organizer), ``nominal``, ``discount``, ``service_fee`` and
        ``bonus_share`` (bonuses spent on that item); ``paid_price`` is nominal -
        discount - bonus_share.
    :param participant: the buyer's wallet status, tier and active balance.
    :return: a list of ``Credit`` (possibly empty). Each becomes one lot and one
        ACCRUAL entry whose ``rule`` is ``Credit.rule`` (PL-04), activating at the
        event's start (LB-03) unless ``activates_at`` says otherwise, valid for the
        program's validity unless ``valid_for`` says otherwise.

    Combining: the lists of every plugin are joined; every credit is written.
    Called only for participants whose wallet may earn (ACTIVE, not refused by
    ``order_refusals``).

    Example: 5 % of the money paid for tickets, one credit per event::

        @hookimpl
        def accrual_credits(self, order, participant):
            by_event = {}
            for ticket in order.tickets:
                by_event.setdefault(ticket.event.id, Decimal(0))
                by_event[ticket.event.id] += ticket.paid_price
            return [Credit(amount=percent_down(base, 5), rule="my-5-percent", event_id=event_id)
                    for event_id, base in by_event.items()]
    """
    raise NotImplementedError


@hookspec
def redemption_limit(order: OrderFacts, participant: ParticipantFacts) -> Limit | None:
    """The most bonuses this order may be paid with under this plugin's rules (LB-08).

    :return: a ``Limit(max_bonus, rule)`` or None for no limit.

    Combining: the smallest ``max_bonus`` of all plugins wins and its ``rule`` is the
    reason a quote shows; with no limit at all, the whole active balance may be spent.

    Example: at most 30 % of the order's full value::

        @hookimpl
        def redemption_limit(self, order, participant):
            return Limit(max_bonus=percent_down(order.total, 30), rule="LB-08")
    """
    raise NotImplementedError


@hookspec
def order_refusals(order: OrderFacts, participant: ParticipantFacts) -> list[Refusal]:
    """Rules that forbid this order to earn or to spend (MG-01, MG-02, MG-12, ...).

    :return: a list of ``Refusal(what, rule, message)`` with ``what`` "earn" or
        "spend"; empty when the plugin forbids nothing.

    Combining: every plugin's refusals are joined. Any "spend" refusal makes the
    order's spending cap 0 (a recorded spend is refused with RULE and that rule's id);
    any "earn" refusal makes the order accrue nothing.

    Example: only the widget channel takes part (MG-02)::

        @hookimpl
        def order_refusals(self, order, participant):
            if order.channel is not Channel.WIDGET:
                return [Refusal("earn", "MG-02", "widget only"), Refusal("spend", "MG-02", "widget only")]
            return []
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def refund_terms(order: OrderFacts, refund: RefundFacts) -> RefundTerms | None:
    """The program's own refund policy (MG-09..MG-11, TK-04..TK-06), replacing LB-20.

    :param refund: the returned items, the reason (customer, event cancelled or
        postponed) and when it is asked.
    :return: ``RefundTerms(money, revoke_accruals, rule)``: the money to pay back
        before any withholding, whether the order's accruals are cancelled (LB-09),
        and the rule's id; ``refused_by`` set refuses the refund with that rule (RULE).
        None: this plugin has no policy for it.

    Combining: the first plugin that answers (not None) decides; with none, the core
    policy applies: returned items' nominal - discount - bonuses spent on them, no
    service fees, accruals cancelled.

    Example: returns keep accruals (MG-09)::

        @hookimpl
        def refund_terms(self, order, refund):
            money = sum(item.paid_price for item in refund.items)
            return RefundTerms(money=money, revoke_accruals=False, rule="MG-09")
    """
    raise NotImplementedError
