"""What the gateway stores: participants, wallets, lots, entries, events, orders, refunds.

The ledger's rules (DESIGN.md): every credit is a `Lot`; every change is an immutable
`Entry`; nothing is updated in place but a lot's `remaining` and a wallet's `debt`,
always in the same transaction as the entry that explains them. Bonuses an unpaid
order holds are `Draw`s taken out of lots' `remaining` with no entry yet.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

# The enums stored in the columns; re-exported, as the checked-in migrations import them from here.
from loyalty.enums import (
    CampaignStatus as CampaignStatus,
)
from loyalty.enums import (
    Channel as Channel,
)
from loyalty.enums import (
    EntryKind as EntryKind,
)
from loyalty.enums import (
    ItemKind as ItemKind,
)
from loyalty.enums import (
    OrderMode as OrderMode,
)
from loyalty.enums import (
    OrderStatus as OrderStatus,
)
from loyalty.enums import (
    ParticipantStatus as ParticipantStatus,
)
from loyalty.enums import (
    RefundReason as RefundReason,
)
from loyalty.enums import (
    WalletStatus as WalletStatus,
)


class Participant(Model):
    """A customer of the ticketing system who joined at least one program."""

    id = fields.BigIntField(primary_key=True)
    # The ticketing system's customer id; replaced by a pseudonym on erasure (LB-16).
    customer_id = fields.CharField(max_length=128, unique=True)
    status = fields.CharEnumField(ParticipantStatus, default=ParticipantStatus.ACTIVE, max_length=16)
    display_name = fields.CharField(max_length=200, null=True)
    birth_date = fields.DateField(null=True)
    guardian_consent = fields.BooleanField(default=False)
    marketing_consent = fields.BooleanField(default=False)
    personal_data_consent_at = fields.DatetimeField(null=True)
    email = fields.CharField(max_length=320, null=True)
    email_verified = fields.BooleanField(default=False)
    phone = fields.CharField(max_length=64, null=True)
    phone_verified = fields.BooleanField(default=False)
    # Keyed digest of the original customer id, kept after erasure so that asking
    # again finds the same (erased) participant without keeping the id itself.
    erased_digest = fields.CharField(max_length=64, null=True, unique=True)
    created_at = fields.DatetimeField()
    erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "participant"


class Wallet(Model):
    """One participant's account in one program (LB-07: never merged, never transferred)."""

    id = fields.BigIntField(primary_key=True)
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "loyalty.Participant", related_name="wallets", on_delete=fields.RESTRICT
    )
    participant_id: int
    program_id = fields.CharField(max_length=64)
    status = fields.CharEnumField(WalletStatus, default=WalletStatus.PENDING, max_length=16)
    # Set by staff only (setTier); null: the tier follows spend (loyalty.tiers).
    tier = fields.CharField(max_length=32, null=True)
    debt = fields.IntField(default=0)
    rules_accepted_at = fields.DatetimeField()
    rules_version = fields.CharField(max_length=64)
    joined_at = fields.DatetimeField()

    class Meta:
        table = "wallet"
        unique_together = (("participant", "program_id"),)
        constraints = (CheckConstraint(check="debt >= 0", name="wallet_debt_not_negative"),)


class Lot(Model):
    """One credit: `amount` bonuses of which `remaining` are still in the wallet."""

    id = fields.BigIntField(primary_key=True)
    wallet: fields.ForeignKeyRelation[Wallet] = fields.ForeignKeyField(
        "loyalty.Wallet", related_name="lots", on_delete=fields.RESTRICT
    )
    wallet_id: int
    kind = fields.CharEnumField(EntryKind, max_length=16)
    amount = fields.IntField()
    remaining = fields.IntField()
    activates_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    rule = fields.CharField(max_length=128, null=True)
    rules_version = fields.CharField(max_length=64)
    order_id = fields.CharField(max_length=128, null=True, db_index=True)
    event_id = fields.CharField(max_length=128, null=True)
    campaign_id = fields.BigIntField(null=True, db_index=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "lot"
        indexes = (("wallet_id", "expires_at"),)
        # The database refuses a lot that overdraws or overfills (DESIGN.md ledger invariants).
        constraints = (
            CheckConstraint(check="amount > 0", name="lot_amount_positive"),
            CheckConstraint(check="remaining >= 0 AND remaining <= amount", name="lot_remaining_within_amount"),
        )


class Entry(Model):
    """One immutable line of a wallet's ledger, with a signed `amount`."""

    id = fields.BigIntField(primary_key=True)
    wallet: fields.ForeignKeyRelation[Wallet] = fields.ForeignKeyField(
        "loyalty.Wallet", related_name="entries", on_delete=fields.RESTRICT
    )
    wallet_id: int
    kind = fields.CharEnumField(EntryKind, max_length=16)
    amount = fields.IntField()
    at = fields.DatetimeField()
    activates_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    description = fields.CharField(max_length=500, null=True)
    order_id = fields.CharField(max_length=128, null=True)
    # Indexed for a campaign's report (CA-05: its BURN entries).
    campaign_id = fields.BigIntField(null=True, db_index=True)
    lot_id = fields.BigIntField(null=True, db_index=True)
    refund_id = fields.BigIntField(null=True)
    rule = fields.CharField(max_length=128, null=True)
    # The plugin whose rule made a credit (PL-04, PartnerReport); null for the core and staff.
    plugin = fields.CharField(max_length=64, null=True)
    rules_version = fields.CharField(max_length=64)

    class Meta:
        table = "entry"
        indexes = (("wallet_id", "id"),)
        constraints = (CheckConstraint(check="amount <> 0", name="entry_amount_not_zero"),)


class Event(Model):
    """An event as the ticketing system last sent it."""

    id = fields.CharField(max_length=128, primary_key=True)
    title = fields.CharField(max_length=500)
    category = fields.CharField(max_length=64)
    starts_at = fields.DatetimeField()
    organizer_id = fields.CharField(max_length=128)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "event"


class Order(Model):
    """An order the ticketing system recorded, joined customer or not (RF-03)."""

    id = fields.CharField(max_length=128, primary_key=True)
    customer_id = fields.CharField(max_length=128, db_index=True)
    program_id = fields.CharField(max_length=64)
    wallet_id = fields.BigIntField(null=True, db_index=True)
    channel = fields.CharEnumField(Channel, max_length=16)
    mode = fields.CharEnumField(OrderMode, max_length=8, null=True)
    status = fields.CharEnumField(OrderStatus, default=OrderStatus.CREATED, max_length=24)
    promo_code = fields.CharField(max_length=64, null=True)
    referral_code = fields.CharField(max_length=64, null=True)
    fingerprint = fields.CharField(max_length=256, null=True)
    total = fields.DecimalField(max_digits=14, decimal_places=2)
    bonus_requested = fields.IntField(default=0)
    bonus_spent = fields.IntField(default=0)
    bonus_to_accrue = fields.IntField(default=0)
    bonus_accrued = fields.IntField(default=0)
    accruals_revoked = fields.BooleanField(default=False)
    # Digest of the recorded input: the same id with other content is a CONFLICT.
    content_digest = fields.CharField(max_length=64)
    rules_version = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "orders"


class OrderItem(Model):
    """One ticket or good of an order, `bonus_share` being its part of the bonuses spent."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "loyalty.Order", related_name="items", on_delete=fields.CASCADE
    )
    order_id: str
    item_id = fields.CharField(max_length=128)
    position = fields.IntField()
    event_id = fields.CharField(max_length=128)
    kind = fields.CharEnumField(ItemKind, max_length=8)
    nominal = fields.DecimalField(max_digits=14, decimal_places=2)
    service_fee = fields.DecimalField(max_digits=14, decimal_places=2)
    discount = fields.DecimalField(max_digits=14, decimal_places=2)
    bonus_share = fields.IntField(default=0)
    refund_id = fields.BigIntField(null=True)

    class Meta:
        table = "order_item"
        unique_together = (("order", "item_id"),)


class Draw(Model):
    """Bonuses taken out of a lot for an order's hold or a debit.

    While the order is unpaid the draw is a hold (`entry_id` null). Paying writes the
    SPEND entry and sets it, cancelling deletes the draw and gives the lot its bonuses
    back. A staff debit's draws carry their ADJUSTMENT entry at once.
    """

    id = fields.BigIntField(primary_key=True)
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        "loyalty.Lot", related_name="draws", on_delete=fields.RESTRICT
    )
    lot_id: int
    wallet_id = fields.BigIntField(db_index=True)
    amount = fields.IntField()
    order_id = fields.CharField(max_length=128, null=True, db_index=True)
    entry_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "draw"
        constraints = (CheckConstraint(check="amount > 0", name="draw_amount_positive"),)


class Refund(Model):
    """One refund of some items of an order, with what it did to money and bonuses."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "loyalty.Order", related_name="refunds", on_delete=fields.CASCADE
    )
    order_id: str
    idempotency_key = fields.CharField(max_length=128, null=True)
    reason = fields.CharEnumField(RefundReason, max_length=24)
    item_ids: fields.Field[list[str]] = fields.JSONField()
    money_refund = fields.DecimalField(max_digits=14, decimal_places=2)
    bonus_revoked = fields.IntField(default=0)
    bonus_withheld = fields.IntField(default=0)
    bonus_debt = fields.IntField(default=0)
    rule = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()

    class Meta:
        table = "refund"
        unique_together = (("order", "idempotency_key"),)


class StatusChange(Model):
    """Why a participant or wallet was blocked, unblocked or erased, and by whom (MG-13)."""

    id = fields.BigIntField(primary_key=True)
    participant_id = fields.BigIntField(db_index=True)
    program_id = fields.CharField(max_length=64, null=True)
    action = fields.CharField(max_length=16)
    reason = fields.CharField(max_length=500)
    actor = fields.CharField(max_length=128)
    at = fields.DatetimeField()

    class Meta:
        table = "status_change"


class Campaign(Model):
    """A gift campaign (CA-01, LB-14): `amount` bonuses to every member of its audience.

    The audience is the filter given at creation (`audience`, as AudienceInput). It is
    counted at creation and fixed at launch into `CampaignMember` rows, which the
    batches (`CampaignBatch`) grant. `token` is random per campaign and names its jobs.
    """

    id = fields.BigIntField(primary_key=True)
    token = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=200)
    program_id = fields.CharField(max_length=64)
    amount = fields.IntField()
    audience: fields.Field[dict[str, object]] = fields.JSONField()
    message = fields.CharField(max_length=500, null=True)
    starts_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    valid_days = fields.IntField(null=True)
    status = fields.CharEnumField(CampaignStatus, default=CampaignStatus.DRAFT, max_length=16)
    audience_size = fields.IntField(default=0)
    batch_size = fields.IntField()
    batches = fields.IntField(default=0)
    rules_version = fields.CharField(max_length=64)
    created_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()
    launched_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "campaign"


class CampaignMember(Model):
    """One audience member of a launched campaign, numbered `seq` from 1 (fixed at launch)."""

    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    seq = fields.IntField()
    participant_id = fields.BigIntField()
    wallet_id = fields.BigIntField()

    class Meta:
        table = "campaign_member"
        unique_together = (("campaign_id", "seq"),)


class CampaignBatch(Model):
    """Members `first_seq`..`last_seq` of a campaign, granted by one job in one transaction.

    `done_at` and the counts are written in the transaction that wrote the grants, so
    the database alone says what is finished (the sweeper re-runs the rest).
    """

    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    batch_no = fields.IntField()
    first_seq = fields.IntField()
    last_seq = fields.IntField()
    granted = fields.IntField(default=0)
    skipped = fields.IntField(default=0)
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "campaign_batch"
        unique_together = (("campaign_id", "batch_no"),)


class CampaignGrant(Model):
    """The outcome for one audience member: granted (with a GIFT lot and entry) or skipped.

    Unique per (campaign, participant): the gift is given at most once (CA-04), and the
    row is written in the same transaction as the GIFT lot and entry.
    """

    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    participant_id = fields.BigIntField()
    wallet_id = fields.BigIntField()
    batch_no = fields.IntField()
    granted = fields.BooleanField()
    at = fields.DatetimeField()

    class Meta:
        table = "campaign_grant"
        unique_together = (("campaign_id", "participant_id"),)


class PromoCodeBatch(Model):
    """Promo codes issued together for one event, with one discount and one expiry (TK-01, TK-02)."""

    id = fields.BigIntField(primary_key=True)
    program_id = fields.CharField(max_length=64)
    event_id = fields.CharField(max_length=128)
    count = fields.IntField()
    discount_percent = fields.IntField(null=True)
    discount_amount = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    expires_at = fields.DatetimeField()
    issued_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()

    class Meta:
        table = "promo_code_batch"


class PromoCode(Model):
    """One single-use promo code (TK-01), used by the order whose payment took it.

    `used_at` is set once, by a conditional update, when that order is paid. A refund
    never clears it (TK-03). An unpaid order that is cancelled never set it.
    """

    code = fields.CharField(max_length=64, primary_key=True)
    batch: fields.ForeignKeyRelation[PromoCodeBatch] = fields.ForeignKeyField(
        "loyalty.PromoCodeBatch", related_name="codes", on_delete=fields.RESTRICT
    )
    batch_id: int
    program_id = fields.CharField(max_length=64)
    event_id = fields.CharField(max_length=128)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    order_id = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "promo_code"
