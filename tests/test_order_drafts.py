"""An order's content digest: the same id with other content is a CONFLICT (a retry with the same content is a no-op), so
the digest of what was recorded must never change between versions of the gateway."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from loyalty.enums import Channel, ItemKind
from loyalty.orders.drafts import ItemDraft, OrderDraft, content_digest


def test_the_content_digest_is_sha256_of_the_sorted_json_of_what_the_order_says():
    draft = OrderDraft(
        customer_id="c-ü1",
        program_id="live-brighter",
        channel=Channel.APP,
        items=(ItemDraft("e1", ItemKind.TICKET, Decimal("2000.00"), id="t1"),),
        id="o1",
        bonus_to_spend=100,
        promo_code='SALE"10',
    )
    # The bytes every recorded order's digest was taken of: json.dumps(sort_keys=True),
    # its default separators, non-ASCII escaped.
    text = (
        '{"channel": "APP", "customer": "c-\\u00fc1", "fingerprint": null, "items": [["t1", "e1", "TICKET",'
        ' "2000.00", "0.00", "0.00"]], "mode": null, "program": "live-brighter", "promo": "SALE\\"10",'
        ' "referral": null, "spend": 100}'
    )
    assert json.loads(text)["customer"] == "c-ü1"
    assert content_digest(draft) == hashlib.sha256(text.encode()).hexdigest()
