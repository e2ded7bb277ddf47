"""What every resolver gets in `info.context`: the caller, the programs, the dataloaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader as StrawberryLoader
from strawberry.types import Info as StrawberryInfo

from loyalty import campaigns, ledger, participants, refunds, tiers
from loyalty.access import Caller
from loyalty.errors import Unavailable
from loyalty.jobs import Queue
from loyalty.ledger.balances import Balance, BurnForecast
from loyalty.models import Refund, Wallet
from loyalty.programs import Catalog

K = TypeVar("K")
T = TypeVar("T")


class DataLoader(StrawberryLoader[K, T]):
    """Strawberry's DataLoader, but a caller's cancellation stays its own.

    Callers asking for the same key share one future. graphql-core cancels the pending
    siblings of a field that failed, and cancelling a task that awaits the shared future
    cancels the future itself: another field waiting for the same key (`wallets { tier }`
    beside `wallet(programId) { tier }`) then got CancelledError and the request a 500.
    Each caller awaits a shield of the shared future instead.
    """

    def load(self, key: K) -> Awaitable[T]:
        return asyncio.shield(super().load(key))


async def _balances(ids: list[int]) -> list[Balance]:
    found = await ledger.balances(ids)
    return [found[i] for i in ids]


async def _burns(ids: list[int]) -> list[BurnForecast | None]:
    found = await ledger.next_burns(ids)
    return [found[i] for i in ids]


async def _wallets(ids: list[int]) -> list[list[Wallet]]:
    found = await participants.wallets_of(ids)
    return [found[i] for i in ids]


def _tier_loader(catalog: Catalog) -> DataLoader[Wallet, str | None]:
    async def load(wallets: list[Wallet]) -> list[str | None]:
        found = await tiers.tiers_of(catalog, wallets)
        return [found[wallet.id] for wallet in wallets]

    return DataLoader(load_fn=load, cache_key_fn=lambda wallet: wallet.id)


async def _campaign_spent(ids: list[int]) -> list[int]:
    found = await campaigns.bonuses_spent(ids)
    return [found[i] for i in ids]


async def _campaign_burned(ids: list[int]) -> list[int]:
    found = await campaigns.bonuses_burned(ids)
    return [found[i] for i in ids]


async def _refunds(ids: list[str]) -> list[list[Refund]]:
    found = await refunds.refunds_of(ids)
    return [found[i] for i in ids]


@dataclass
class Loaders:
    """One set per request, so batching never crosses callers."""

    balance: DataLoader[int, Balance] = field(default_factory=lambda: DataLoader(load_fn=_balances))
    next_burn: DataLoader[int, BurnForecast | None] = field(default_factory=lambda: DataLoader(load_fn=_burns))
    wallets: DataLoader[int, list[Wallet]] = field(default_factory=lambda: DataLoader(load_fn=_wallets))
    refunds: DataLoader[str, list[Refund]] = field(default_factory=lambda: DataLoader(load_fn=_refunds))
    campaign_spent: DataLoader[int, int] = field(default_factory=lambda: DataLoader(load_fn=_campaign_spent))
    campaign_burned: DataLoader[int, int] = field(default_factory=lambda: DataLoader(load_fn=_campaign_burned))


class Context:
    """The request's caller (decoded on first use), the catalog of programs and the loaders."""

    def __init__(
        self,
        catalog: Catalog,
        read_caller: Any,
        request: Any = None,
        response: Any = None,
        queue: Queue | None = None,
        campaign_batch_size: int | None = None,
        erasure_key: bytes | None = None,
        throttle: Callable[[str], Awaitable[int | None]] | None = None,
    ) -> None:
        self.catalog = catalog
        # Where campaign work goes (handed in by the gateway: arq, or this process); None: nowhere.
        self.queue = queue
        self.campaign_batch_size = campaign_batch_size
        self._erasure_key = erasure_key
        self._read_caller = read_caller
        self._caller: Caller | None = None
        self._read = False
        self.loaders = Loaders()
        # Club tiers (TK-05) need the programs' rules, so this loader is made per catalog.
        self.tiers = _tier_loader(catalog)
        self.request = request
        self.response = response
        # Counts one request of this client against a rate limit (the gateway's); None: unlimited.
        self._throttle = throttle

    async def throttled(self, bucket: str) -> int | None:
        """None while the caller's address is within the limit of `bucket`; else Retry-After seconds."""
        return await self._throttle(bucket) if self._throttle else None

    @property
    def caller(self) -> Caller | None:
        """The token's caller; None without a token; UNAUTHENTICATED raised for a bad one."""
        if not self._read:
            self._caller = self._read_caller()
            self._read = True
        return self._caller

    @property
    def erasure_key(self) -> bytes:
        """The secret the pseudonyms of erased participants are keyed with (LB-16), from the settings."""
        if not self._erasure_key:
            raise Unavailable("the gateway has no erasure key configured (LOYALTY_ERASURE_KEY)")
        return self._erasure_key


Info = StrawberryInfo[Context, None]
