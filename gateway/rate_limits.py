"""Rate limits per client address (the referral landing, RF-01): the `limits` package, in
memory for one process, in Redis when REDIS_URL is set so the limit holds across gateway
processes."""

from __future__ import annotations

import math
import time
from typing import Any

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


class ClientLimits:
    """`hit(bucket, client)`: None while the client is within `rate`, else the seconds to wait."""

    def __init__(self, rate: str, redis_url: str | None = None) -> None:
        self.item = parse(rate)
        storage: Storage
        if redis_url:
            storage = RedisStorage("async+" + redis_url, implementation="redispy", key_prefix="loyalty-limits")
        else:
            storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)

    async def hit(self, bucket: str, client: str) -> int | None:
        """Count one request of `client` in `bucket`; None if allowed, else Retry-After seconds."""
        if await self.limiter.hit(self.item, bucket, client):
            return None
        stats = await self.limiter.get_window_stats(self.item, bucket, client)
        return max(1, math.ceil(stats.reset_time - time.time()))


def client_address(request: Any, trust_forwarded: bool) -> str:
    """The client's address: the socket peer, or the first X-Forwarded-For hop where trusted."""
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    client = getattr(request, "client", None)
    return client.host if client else "unknown"
