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

Failure policy (PL-03): when a decision hook raises (or answers something of the
wrong type), the whole operation is refused with the contract's ``UNAVAILABLE`` error
and nothing is written; the log names the plugin. Where ``plugins.toml`` marks the
plugin ``optional = true``, its answer is left out instead and the error is logged.
``notify`` is the exception: it runs after the change is committed, so its failures
are logged and never fail anything.

The hooks, and how several plugins' answers combine:

==========================  ==============================================  =====================
hook                        asks                                            combining
==========================  ==============================================  =====================
``accrual_credits``         bonuses an order earns (LB-02, PL-01)           lists joined
``redemption_limit``        most bonuses an order may spend (LB-08)         smallest wins
``order_refusals``          may the order earn / spend (MG-01, MG-02)       lists joined
``refund_terms``            the program's refund policy (MG-11, TK-05)      first answer wins
``promo_code_refusal``      may this promo code be used here (TK-01)        first refusal wins
``tier_for``                club tier from 365 days' spend (TK-05)          first answer wins
``achievements``            achievement definitions (GA-01)                 lists joined
``referral_refusal``        may this referral pay out (RF-08)               first refusal wins
``referral_terms``          the program's referral program (RF-01)          first answer wins
``audience_segment``        a campaign audience segment (CA-02)             first answer wins
``notify``                  something happened (after commit)               all called, no answer
==========================  ==============================================  =====================

Order: plugins are asked in the order plugins.toml lists them, except that an
implementation marked ``@hookimpl(tryfirst=True)`` is asked before the others and
one marked ``@hookimpl(trylast=True)`` after them (plugins.toml order within each).
Where the first answer wins, the first plugin asked that answers (not None) decides
and the plugins after it are not asked. A plugin is asked only about the programs its
``programs`` list names (all, when empty). A plugin implements any subset of the
hooks, and of each hook's arguments: ``def accrual_credits(self, order)`` is fine when
the participant does not matter.

Wrappers: ``@hookimpl(wrapper=True)`` on a generator method runs it around the other
plugins' implementations of that hook, in the plugin's programs. ``answers = yield``
gets what they answered: where the first answer wins, that answer or None; otherwise
the list of each plugin's answer (for ``accrual_credits`` a list of lists of
credits). What the wrapper returns replaces it. The old style,
``@hookimpl(hookwrapper=True)``, gets a ``pluggy.Result`` from ``yield`` and may call
its ``force_result``. A wrapper's result is checked and its failures handled like any
answer (PL-03: an optional wrapper that fails is as if it were not there); credits it
adds are recorded as its plugin's (PL-04). For example, double every credit::

    @hookimpl(wrapper=True)
    def accrual_credits(self, order):
        answers = yield
        return [[replace(c, amount=c.amount * 2) for c in answer] for answer in answers]

A method named like no hook here stops start-up (a misspelling is caught).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pluggy

from loyalty.facts import (
    AchievementDefinition,
    Credit,
    Limit,
    Notification,
    OrderFacts,
    ParticipantFacts,
    PromoCodeFacts,
    ReferralTerms,
    RefundFacts,
    RefundTerms,
    Refusal,
    Segment,
)

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
    ``order_refusals``). ``activates_at`` in the past (e.g. ``order.placed_at``)
    means: active at payment (MG-03).

    Failure: a raising plugin refuses recordOrder and payOrder (UNAVAILABLE, nothing
    written), unless optional, when its credits are left out.

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

    Failure: a raising plugin refuses the quote and recordOrder, unless optional.

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

    Failure: a raising plugin refuses the operation, unless optional.

    Example: only the widget channel takes part (MG-02)::

        @hookimpl
        def order_refusals(self, order, participant):
            if order.channel is not Channel.WIDGET:
                return [Refusal("earn", "MG-02", "widget only"), Refusal("spend", "MG-02", "widget only")]
            return []
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def refund_terms(order: OrderFacts, refund: RefundFacts, participant: ParticipantFacts) -> RefundTerms | None:
    """The program's own refund policy (MG-09..MG-11, TK-04..TK-06), replacing LB-20.

    :param refund: the returned items, the reason (customer, event cancelled or
        postponed) and when it is asked.
    :param participant: the buyer: ``wallet_status`` None when not a member of the
        program (BLOCKED under either kind of block, MG-13), ``joined_at`` when the
        wallet was opened, ``tier`` the club tier now (TK-05). ``order.paid_at`` is
        when the order was paid.
    :return: ``RefundTerms(money, revoke_accruals, rule)``: the money to pay back
        before any withholding, whether the order's accruals are cancelled (LB-09),
        and the rule's id; ``refused_by`` set refuses the refund with that rule (RULE).
        None: this plugin has no policy for it.

    Combining: the first plugin that answers (not None) decides; with none, the core
    policy applies: returned items' nominal - discount - bonuses spent on them, no
    service fees, accruals cancelled. The gateway rounds ``money`` to cents and
    never pays back less than 0 nor more than was paid for the returned items
    (nominal - discount - bonuses spent on them + service fee).

    Failure: a raising plugin refuses the refund (UNAVAILABLE), unless optional.

    Example: returns keep accruals (MG-09)::

        @hookimpl
        def refund_terms(self, order, refund):
            money = sum(item.paid_price for item in refund.items)
            return RefundTerms(money=money, revoke_accruals=False, rule="MG-09")
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def promo_code_refusal(code: PromoCodeFacts, order: OrderFacts, participant: ParticipantFacts) -> Refusal | None:
    """Whether an order may use this promo code, beyond the gateway's own checks (TK-01).

    The gateway itself refuses a code that is unknown (NOT_FOUND), already used
    (TK-01, also after a refund: TK-03), expired (TK-02), of another program or for
    an event the order has no ticket for (TK-01). This hook adds a program's own
    conditions; it runs when recordOrder carries a code that passed those checks.

    :param code: the code as issued: event, discount, expiry.
    :param order: the order being recorded (``order.promo_code`` is ``code.code``).
    :param participant: the buyer.
    :return: a ``Refusal(what="promo", rule, message)`` to refuse the order with RULE
        and that rule's id; None to allow it.

    Combining: the first plugin that refuses decides; the others are not asked.

    Failure: a raising plugin refuses recordOrder (UNAVAILABLE), unless optional.

    Example: codes only in the mobile app::

        @hookimpl
        def promo_code_refusal(self, code, order, participant):
            if order.channel is not Channel.APP:
                return Refusal("promo", "ACME-1", "this code works in the app only")
            return None
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def tier_for(spend_365_days: Decimal, participant: ParticipantFacts) -> str | None:
    """The club tier a participant holds by spend in the last 365 days (TK-05 Decision).

    Asked only for programs that define ``tiers`` in plugins.toml, and only while
    staff have not set the wallet's tier by hand (setTier), which then wins.

    :param spend_365_days: money the participant paid in the program's orders
        paid in the last 365 days (order totals less bonuses spent), less the money
        refunded on them.
    :param participant: the participant (its ``tier`` is None here).
    :return: one of the program's ``tiers``; None: this plugin does not decide.

    Combining: the first plugin that answers decides; with none, the wallet has no
    tier. A tier the program does not define is treated as a plugin failure.

    Failure: a raising plugin refuses the operation that needed the tier (a
    refund, an order's rules), unless optional, when the wallet shows no tier.

    Example: thresholds from the plugin's settings, highest first::

        @hookimpl
        def tier_for(self, spend_365_days, participant):
            for tier, threshold in (("Gold", 1500), ("Silver", 500), ("Basic", 0)):
                if spend_365_days >= threshold:
                    return tier
            return None
    """
    raise NotImplementedError


@hookspec
def achievements() -> list[AchievementDefinition]:
    """The achievements this plugin defines for its programs (GA-01, GA-04, LB-17).

    Declarative: the gateway counts each participant's progress from the facts it
    keeps, unlocks an achievement once its count reaches ``goal`` and credits
    ``reward_bonus`` once, as an ACHIEVEMENT entry, like a gift (GA-02, LB-14). Nothing
    is counted up as it happens, so progress never drifts: a returned purchase stops
    counting at once (GA-03), and an achievement, once unlocked, stays unlocked.

    :return: a list of ``AchievementDefinition``:

        - ``id`` (1..64 characters, unique within the program), ``title``,
          ``description`` (None: none shown), ``goal`` (at least 1);
        - ``counts``, what is counted: ``"purchase_paid"`` (paid purchases with a
          ticket not returned), ``"event_attended"`` (distinct events the participant
          holds a paid, unreturned ticket to), ``"category"`` (distinct categories of
          those events), ``"referral_rewarded"`` (the participant's rewarded referrals,
          RF-02) or ``"custom"``, the plugin's own counter: then ``count`` is a pure
          function of ``loyalty.facts.AchievementFacts`` (the participant's paid,
          unreturned purchases in the program as ``OrderFacts`` holding only the items
          not returned, and their rewarded referrals) answering a whole number >= 0;
        - ``window_days``: None counts all time, N only the last N days (by when the
          order was paid or the referral rewarded);
        - ``reward_bonus`` (0: a badge, no bonuses) and ``reward_valid_days`` (None: the
          program's validity after activation, LB-04).

        Only purchases paid as a member count. A reward unlocked by a payment is
        pending until that purchase's (earliest) event starts (LB-03); if a ticket of
        the purchase is returned before then, the reward is cancelled (a REVOKE entry of
        rule GA-03) and the achievement stays unlocked without a second reward. A reward
        unlocked by a rewarded referral is active at once. Erased, blocked and not yet
        verified participants unlock nothing. The ACHIEVEMENT entry's ``rule`` is the
        achievement's id.

    Combining: the lists of every plugin are joined. Start-up refuses definitions
    that cannot work (an id twice, an unknown ``counts``, a goal below 1, ``count``
    given without ``counts="custom"`` or missing with it), naming the plugin.

    Called wherever achievements matter: every payment and referral payout in the
    program, and the participant's ``achievements`` read; ``count`` is called there too,
    so keep both quick (no I/O).

    Failure: a raising plugin (or ``count``) refuses the payment, payout or read that
    asked (UNAVAILABLE), unless optional, when its achievements are left out.

    Example: *First ticket*, 50 bonuses for the first paid purchase, and a partner's
    own counter, 3 tickets bought in the app within 30 days::

        @hookimpl
        def achievements(self):
            def app_tickets(facts):
                return sum(len(p.tickets) for p in facts.purchases if p.channel is Channel.APP)

            return [
                AchievementDefinition(id="first-ticket", title="First ticket", goal=1,
                                      counts="purchase_paid", reward_bonus=50),
                AchievementDefinition(id="acme-app-fan", title="App fan", goal=3, counts="custom",
                                      count=app_tickets, window_days=30, reward_bonus=150),
            ]
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def referral_refusal(order: OrderFacts, referrer: ParticipantFacts, friend: ParticipantFacts) -> Refusal | None:
    """Whether a referral may pay out, beyond the gateway's own checks (RF-03..RF-08).

    Asked when an order carrying a referral code is paid and the gateway's checks
    (new customer, minimum purchase, one referrer, self-referral) passed.

    :param order: the friend's qualifying order.
    :param referrer: the participant whose code the order carried.
    :param friend: the buyer.
    :return: a ``Refusal(what="referral", rule, message)``: the referral is
        REJECTED with ``rule`` (and ``message``) as its reason; None to allow it.

    Combining: the first plugin that refuses decides; the others are not asked.

    Failure: a raising plugin refuses the payment (UNAVAILABLE), unless optional.

    Example: no referral reward on orders below 5 tickets' worth in the box office::

        @hookimpl
        def referral_refusal(self, order, referrer, friend):
            if order.channel is Channel.BOX_OFFICE:
                return Refusal("referral", "ACME-2", "box office sales are not referred")
            return None
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def referral_terms() -> ReferralTerms | None:
    """The program's referral program, when this plugin runs one (RF-01..RF-10).

    Asked for every program the plugin covers: where no plugin answers, the program
    runs no referrals (``Participant.referral`` is null, codes do not attribute).

    :return: a ``ReferralTerms`` (link base, the friend's and the referrer's bonus,
        the minimum purchase, the monthly review threshold, the fraud limit and the
        window in which a friend who joins after paying still gets the bonus); None
        where this plugin runs no referral program.

    Combining: the first plugin that answers decides.

    Failure: a raising plugin refuses the operation (UNAVAILABLE), unless optional.

    Example: 300 to each side, from 2,000 up::

        @hookimpl
        def referral_terms(self):
            return ReferralTerms(link_base="https://example.com/r/", friend_bonus=300,
                                 referrer_bonus=300, min_purchase=Decimal(2000),
                                 monthly_threshold=20, fraud_limit=3, join_window=timedelta(days=30))
    """
    raise NotImplementedError


@hookspec
def notify(event: Notification) -> None:
    """Something happened in one of the plugin's programs; called after it was committed.

    Called in two ways:

    - **At once**, right after the commit, with ``event.id`` None: ``kind``
      "order_paid", "order_refunded", "tier_set", "promo_codes_issued". Fire and
      forget: the hook must be quick (no network call: enqueue a job for I/O), and
      its failures are only logged.
    - **From the outbox**, by the delivery job, with a stable ``event.id``: ``kind``
      "referral_rewarded" (RF-11: once for the referrer, once for the friend) or
      "campaign_message" (CA-01; ``event.marketing`` True, only for participants
      with marketing consent, LB-15). Here the hook may do blocking I/O (it runs in a
      thread; keep a timeout). Delivery is *at least once*: raising means "not
      delivered", and the notification is told again later (backoff), to every
      plugin of the program; a worker that died before recording success tells it
      again too. So drop duplicates by ``event.id``, which is the same on every
      attempt (``event.attempt`` counts them from 1).

    :param event: what happened: ``kind``, the program, the participant (the
        ticketing system's customer id), the order and the bonuses involved; from
        the outbox also ``id``, ``payload`` (amounts, ids, message text; never
        personal data: e.g. ``{"referral": 7, "side": "friend", "bonus": 500}`` or
        ``{"campaign": "...", "bonus": 100, "message": "...", "expires_at": "..."}``),
        ``marketing`` and ``attempt``. An erased participant's notifications are
        dropped, never told (LB-16).
    :return: nothing.

    Combining: every plugin of the program is called, in plugins.toml order.

    Failure: never fails the operation, which is already committed: the error is
    logged with the plugin's name, and the other plugins are still called. From the
    outbox, a failure of any plugin makes the notification due again.

    Built in: ``webhook`` POSTs the outbox's notifications as signed JSON
    (docs/plugins.md).

    Example: count paid orders for a dashboard; remember what was told::

        @hookimpl
        def notify(self, event):
            if event.kind == "order_paid":
                self.paid_orders += 1
            elif event.id is not None and event.id not in self.seen:
                self.seen.add(event.id)
                self.inbox.append(event)
    """


@hookspec(firstresult=True)
def audience_segment(name: str, params: dict[str, Any], program: str) -> Segment | None:
    """The gift-campaign audience segment called ``name``, if this plugin defines it (CA-02).

    Marketing names a segment in ``AudienceInput.segment`` (with ``segmentParams``);
    the gateway asks the program's plugins what it means when the audience is
    previewed, when the campaign is created and again when it is launched (the
    audience is fixed then). Like every decision hook it is pure: no database, no
    I/O. A segment is therefore *declarative*: a ``loyalty.facts.Segment`` whose
    fields (tier, customer ids, bought category / since, joined since, marketing
    consent) combine with AND, and the gateway turns it into one set-based query over
    the program's wallets. A segment that needs data the gateway does not keep lists
    the participants outright in ``customer_ids`` (any number; one query parameter).

    :param name: the segment's name as marketing gave it (trimmed).
    :param params: ``segmentParams``, a JSON object ({} when not given).
    :param program: the id of the program the campaign grants in.
    :return: a ``Segment`` when this plugin defines ``name``; None otherwise.
        Only ACTIVE wallets of ACTIVE participants ever match, whatever the segment
        says, and the other filters of the audience still apply (AND).

    Combining: the first plugin (plugins.toml order) that answers decides; when none
    does, the audience is refused with ``BAD_INPUT`` (unknown segment). An answer
    that is not a ``Segment`` refuses the operation like a raising plugin.

    Failure: a raising plugin refuses the preview, creation or launch
    (``UNAVAILABLE``, nothing written); an optional one is logged and skipped, and
    then the segment is unknown unless another plugin defines it.

    Example: participants who joined since a date and accept marketing, with
    ``segment: "newcomers", segmentParams: {"since": "2026-01-01T00:00:00Z"}``::

        @hookimpl
        def audience_segment(self, name, params, program):
            if name != "newcomers":
                return None
            since = datetime.fromisoformat(params["since"])
            return Segment(joined_since=since, marketing_consent=True)
    """
    raise NotImplementedError
