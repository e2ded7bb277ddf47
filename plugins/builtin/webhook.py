"""The webhook notifier: the outbox's notifications POSTed as signed JSON (RF-11, CA-01).

Enabled in plugins.toml like any plugin (``programs`` says whose notifications)::

    [plugins.webhook]
    programs = ["live-brighter"]
    [plugins.webhook.settings]
    url = "https://partner.example/loyalty-hook"
    secret_env = "LOYALTY_WEBHOOK_SECRET"   # the variable holding the HMAC key
    timeout_seconds = 5

Each notification with an id (those the delivery job tells from the outbox) is one
POST of JSON ``{id, kind, program, participant, payload, marketing, created_at,
attempt}`` with ``X-Loyalty-Notification-Id: <id>`` and ``X-Loyalty-Signature:
sha256=<hex HMAC-SHA256 of the body under the secret>``. A 2xx answer is delivery;
anything else, or no answer within the timeout, raises, and the notification is
retried with backoff. Notifications told at once (no id) are not sent: they would
need the network inside the request that made them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import httpx
from pydantic import BaseModel, Field, field_validator

from loyalty.facts import Notification
from plugins.config import ConfigError
from plugins.hookspecs import hookimpl

SIGNATURE_HEADER = "X-Loyalty-Signature"
ID_HEADER = "X-Loyalty-Notification-Id"


def signature(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def body(event: Notification) -> bytes:
    """The JSON the receiver gets for one notification."""
    document: dict[str, Any] = {
        "id": event.id,
        "kind": event.kind,
        "program": event.program_id,
        "participant": event.participant_id,
        "payload": event.payload,
        "marketing": event.marketing,
        "created_at": event.at.isoformat(),
        "attempt": event.attempt,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


class Webhook:
    """POSTs each outbox notification of its programs to one URL, signed."""

    class Settings(BaseModel):
        """`[plugins.webhook.settings]` in plugins.toml."""

        url: str
        # The environment variable holding the signing secret: no secret in plugins.toml.
        secret_env: str = Field(min_length=1)
        timeout_seconds: float = Field(default=5.0, gt=0, le=60)
        # Only these kinds ("referral_rewarded", "campaign_message"); empty: all.
        kinds: list[str] = []

        @field_validator("url")
        @classmethod
        def _http(cls, value: str) -> str:
            if not value.startswith(("http://", "https://")):
                raise ValueError("url must be an http:// or https:// URL")
            return value

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secret = os.environ.get(settings.secret_env)
        if not secret:
            raise ConfigError(
                f"plugin 'webhook': the environment variable {settings.secret_env} (secret_env) is not set"
            )
        self.secret = secret.encode()
        self.client = httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)

    @hookimpl
    def notify(self, event: Notification) -> None:
        """POST an outbox notification; raise (to be retried) unless the receiver answers 2xx."""
        if event.id is None or (self.settings.kinds and event.kind not in self.settings.kinds):
            return
        content = body(event)
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: event.id,
            SIGNATURE_HEADER: signature(self.secret, content),
        }
        answer = self.client.post(self.settings.url, content=content, headers=headers)
        if not answer.is_success:
            raise RuntimeError(f"the receiver answered HTTP {answer.status_code}")
