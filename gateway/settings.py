"""Settings from the environment (contract/README.md, Where and how)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from loyalty.notifications import RetryPolicy


class Settings(BaseSettings):
    """Every knob the gateway reads, by its environment variable."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(default="sqlite://loyalty.sqlite3", alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    # The arq queue the gateway enqueues to and `arq gateway.worker.WorkerSettings` drains.
    queue_name: str = Field(default="arq:queue", alias="LOYALTY_QUEUE")
    # Participants per campaign batch (one job, one transaction each).
    campaign_batch_size: int = Field(default=5000, alias="LOYALTY_CAMPAIGN_BATCH")
    plugins_path: str = Field(default="plugins.toml", alias="LOYALTY_PLUGINS")
    jwt_secret: str | None = Field(default=None, alias="LOYALTY_JWT_SECRET")
    # Where set, a token must name this issuer (`iss`) and this audience (`aud`).
    jwt_issuer: str | None = Field(default=None, alias="LOYALTY_JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, alias="LOYALTY_JWT_AUDIENCE")
    # Keys the pseudonym an erased participant is found by (LB-16); keep it secret and never
    # change it: with another key the gateway no longer recognises whom it erased.
    erasure_key: str | None = Field(default=None, alias="LOYALTY_ERASURE_KEY")
    # Off in production; `loyalty demo` turns both on.
    graphiql: bool = Field(default=False, alias="LOYALTY_GRAPHIQL")
    # The marketing console at /console (gateway/console.py).
    console: bool = Field(default=True, alias="LOYALTY_CONSOLE")
    introspection: bool = Field(default=False, alias="LOYALTY_INTROSPECTION")
    max_query_depth: int = Field(default=12, alias="LOYALTY_MAX_QUERY_DEPTH")
    max_aliases: int = Field(default=30, alias="LOYALTY_MAX_ALIASES")
    max_tokens: int = Field(default=2000, alias="LOYALTY_MAX_TOKENS")
    # JSON lines on stderr at this level (DEBUG, INFO, WARNING, ERROR).
    log_level: str = Field(default="INFO", alias="LOYALTY_LOG_LEVEL")
    # Each arq worker serves its metrics on this port (0: none).
    worker_metrics_port: int = Field(default=9101, alias="LOYALTY_WORKER_METRICS_PORT")
    # referralLanding needs no token, so it is limited per client address (RF-01).
    landing_rate: str = Field(default="30/minute", alias="LOYALTY_LANDING_RATE")
    # Behind a proxy that sets X-Forwarded-For: take the client address from it.
    trust_forwarded_for: bool = Field(default=False, alias="LOYALTY_TRUST_FORWARDED_FOR")
    # Request bodies past this answer 413; 4 MiB holds a 100,000-id audience.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, alias="LOYALTY_MAX_BODY_BYTES")
    # Outbox delivery (RF-11, CA-01): the first retry after this many seconds, doubling
    # up to the maximum; given up (FAILED) after this many attempts; a claimed
    # notification whose worker died is delivered again after the lease.
    notify_retry_seconds: float = Field(default=10, gt=0, alias="LOYALTY_NOTIFY_RETRY_SECONDS")
    notify_max_retry_seconds: float = Field(default=3600, gt=0, alias="LOYALTY_NOTIFY_MAX_RETRY_SECONDS")
    notify_max_attempts: int = Field(default=10, gt=0, alias="LOYALTY_NOTIFY_MAX_ATTEMPTS")
    notify_lease_seconds: float = Field(default=300, gt=0, alias="LOYALTY_NOTIFY_LEASE_SECONDS")

    def notify_retry(self) -> RetryPolicy:
        """The outbox's retry policy from these settings."""
        return RetryPolicy(
            first_delay=timedelta(seconds=self.notify_retry_seconds),
            max_delay=timedelta(seconds=self.notify_max_retry_seconds),
            max_attempts=self.notify_max_attempts,
            lease=timedelta(seconds=self.notify_lease_seconds),
        )
