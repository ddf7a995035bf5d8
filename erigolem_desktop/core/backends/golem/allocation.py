"""yapapi's `Golem` with an allocation that ends with the nodes it pays for, not in 10 years.

yapapi creates its one allocation per engine in `_Engine._create_allocations` with no expiry, and
`Payment.new_allocation` then reserves the budget for 10 years (yapapi issue #923): a crashed app
would keep the GLM reserved that long. Here the engine asks the backend when the allocation may
end (the latest node expiration plus a margin for the last invoice), the backend extends it over
yagna's payment API when a later node needs longer, and stopping the engine (when no node is left)
releases it through yapapi's own exit stack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from yapapi import Golem, rest
from yapapi.engine import _Engine
from yapapi.rest.payment import Allocation
from yapapi.rest.resource import ResourceCtx

from erigolem_desktop.core.backends.golem.errors import GolemError

log = logging.getLogger(__name__)

AllocationTimeout = Callable[[], datetime]


def _iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as yagna's payment API writes timestamps."""
    return moment.isoformat().replace("+00:00", "Z")


class _ExpiringPayment(rest.Payment):
    """yapapi's payment API whose new allocations expire when the backend says."""

    __slots__ = ("_timeout",)

    def __init__(self, payment: rest.Payment, timeout: AllocationTimeout) -> None:
        self._api = payment._api
        self._timeout = timeout

    def new_allocation(
        self,
        amount: Decimal,
        payment_platform: str,
        payment_address: str,
        *,
        expires: datetime | None = None,
        make_deposit: bool = False,
    ) -> ResourceCtx[Allocation]:
        return super().new_allocation(
            amount,
            payment_platform,
            payment_address,
            expires=expires or self._timeout(),
            make_deposit=make_deposit,
        )


class _BoundedEngine(_Engine):
    """yapapi's engine, creating its allocation with the backend's timeout."""

    def __init__(self, timeout: AllocationTimeout, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._allocation_timeout = timeout

    async def _create_allocations(self) -> rest.payment.MarketDecoration:
        if not isinstance(self._payment_api, _ExpiringPayment):
            self._payment_api = _ExpiringPayment(self._payment_api, self._allocation_timeout)
        return await super()._create_allocations()

    async def extend_allocations(self, until: datetime) -> None:
        """Move every allocation's timeout to `until` if that is later (yagna's amend call)."""
        for allocation in self._budget_allocations:
            if allocation.expires is not None and allocation.expires >= until:
                continue
            url = f"{self._api_config.payment_url}/allocations/{allocation.id}"
            async with self._root_api_session.put(url, json={"timeout": _iso(until)}) as resp:
                if resp.status != 200:
                    body = await resp.text()
                    raise GolemError(
                        f"yagna refused to extend the payment allocation {allocation.id} "
                        f"to {_iso(until)}: {resp.status} {body[:200]}",
                        "Give the node a shorter duration, or stop the other nodes and retry.",
                    )
            allocation.expires = until
            log.info("allocation %s now ends at %s", allocation.id, _iso(until))


class BoundedAllocationGolem(Golem):
    """`yapapi.Golem` whose allocation ends at `allocation_timeout()` (asked when it is made).

    Args:
        allocation_timeout: when the allocation may end; read when the engine creates it.
        **kwargs: what `yapapi.Golem` takes.
    """

    def __init__(self, *, allocation_timeout: AllocationTimeout, **kwargs: Any) -> None:
        self._allocation_timeout = allocation_timeout  # before super(): it builds the engine
        super().__init__(**kwargs)

    def _get_new_engine(self) -> _Engine:
        return _BoundedEngine(self._allocation_timeout, **self._engine_kwargs)

    @property
    def allocation_ids(self) -> list[str]:
        """The ids of the engine's allocations (one per payment platform)."""
        return [a.id for a in self._engine._budget_allocations]

    async def extend_allocation(self, until: datetime) -> None:
        """Let the allocation last until `until` (never shortens it)."""
        engine = self._engine
        if isinstance(engine, _BoundedEngine) and engine.started:
            await engine.extend_allocations(until)
