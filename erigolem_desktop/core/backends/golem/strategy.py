"""Market strategy: price caps per usage counter, a per-node budget, and no retry on a bad provider."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from yapapi import rest
from yapapi.strategy import SCORE_REJECTED, LeastExpensiveLinearPayuMS

from erigolem_desktop.core.backends.golem.config import GolemConfig

DURATION_COUNTER = "golem.usage.duration_sec"
REQUESTS_COUNTER = "golem.usage.erigon.requests"
USAGE_VECTOR = "golem.com.usage.vector"
COEFFS = "golem.com.pricing.model.linear.coeffs"

log = logging.getLogger(__name__)

Acceptor = Callable[[str, Decimal], Decimal]
"""(agreement id, amount asked) -> amount we accept (less than asked = not accepted)."""


@dataclass(frozen=True)
class OfferSeen:
    """One offer the strategy scored: when, from whom, and why it was refused (None = fit)."""

    at: float
    issuer: str
    refused: str | None


class ErigonStrategy(LeastExpensiveLinearPayuMS):
    """Linear pay-as-you-go offers under our caps, cheapest first; excluded providers rejected.

    Prices are capped per counter (`golem.usage.duration_sec`, `golem.usage.erigon.requests`) and
    for the fixed start price; an offer whose usage vector holds any other counter is refused
    (its price would be uncapped). A provider where a start failed is excluded for the node
    that saw it fail (`exclude(node, provider)`, lifted by `release(node)` when that node ends).
    Debit notes and invoices are accepted as far as `acceptor` allows (the backend's per-node
    budget across agreements); above it they are left unaccepted (yagna cannot reject) and the
    backend stops the node with the reason. Every scored offer is noted in `seen`, so a start
    that found nothing can say whether no offer came or offers came above the caps.
    """

    def __init__(self, config: GolemConfig, acceptor: Acceptor | None = None) -> None:
        super().__init__(
            expected_time_secs=3600,
            max_fixed_price=config.max_start_price,
            max_price_for={
                DURATION_COUNTER: config.max_price_duration,
                REQUESTS_COUNTER: config.max_price_requests,
            },
        )
        self.caps: dict[str, Decimal] = {
            DURATION_COUNTER: config.max_price_duration,
            REQUESTS_COUNTER: config.max_price_requests,
        }
        self.max_start_price = config.max_start_price
        self.acceptor = acceptor
        self.excluded: dict[str, set[str]] = {}  # node id -> provider ids
        self.seen: list[OfferSeen] = []

    @property
    def excluded_providers(self) -> set[str]:
        """Providers excluded by any node still starting or running."""
        return set().union(*self.excluded.values()) if self.excluded else set()

    def exclude(self, node_id: str, provider_id: str) -> None:
        self.excluded.setdefault(node_id, set()).add(provider_id)

    def release(self, node_id: str) -> None:
        """The node ended: its exclusions no longer apply to later nodes."""
        self.excluded.pop(node_id, None)

    def seen_since(self, since: float) -> list[OfferSeen]:
        return [s for s in self.seen if s.at >= since]

    def _note(self, issuer: str, refused: str | None) -> None:
        self.seen.append(OfferSeen(time.monotonic(), issuer, refused))
        del self.seen[:-500]  # keep the recent past only

    def _over_caps(self, offer: rest.market.OfferProposal) -> str | None:
        """Why the offer's prices are above our caps, or None."""
        vector = list(offer.props.get(USAGE_VECTOR) or [])
        unknown = sorted(set(vector) - set(self.caps))
        if unknown:
            return f"it prices counters outside the caps ({', '.join(unknown)})"
        coeffs = list(offer.props.get(COEFFS) or [])
        if len(coeffs) != len(vector) + 1:
            return "its linear pricing does not match its usage vector"
        why = [
            f"{name} at {Decimal(str(price))} GLM (cap {self.caps[name]}, "
            f"{Decimal(str(price)) - self.caps[name]} over)"
            for name, price in zip(vector, coeffs, strict=False)
            if Decimal(str(price)) > self.caps[name]
        ]
        start = Decimal(str(coeffs[-1]))
        if start > self.max_start_price:
            why.append(f"start price {start} GLM (cap {self.max_start_price})")
        return "; ".join(why) or None

    async def score_offer(self, offer: rest.market.OfferProposal) -> float:
        if offer.issuer in self.excluded_providers:
            log.debug("Rejected offer %s: provider %s failed a start", offer.id, offer.issuer)
            self._note(offer.issuer, "it failed a start of this node")
            return SCORE_REJECTED
        refused = self._over_caps(offer)
        if refused is not None:
            log.debug("Rejected offer %s: %s", offer.id, refused)
            self._note(offer.issuer, refused)
            return SCORE_REJECTED
        score = float(await super().score_offer(offer))
        self._note(offer.issuer, None if score >= 0 else "yapapi's linear strategy refused it")
        return score

    def _accept(self, agreement_id: str, amount: Decimal) -> Decimal:
        return amount if self.acceptor is None else self.acceptor(agreement_id, amount)

    async def invoice_accepted_amount(self, invoice: Any) -> Decimal:
        return self._accept(str(invoice.agreement_id), Decimal(invoice.amount))

    async def debit_note_accepted_amount(self, debit_note: Any) -> Decimal:
        return self._accept(str(debit_note.agreement_id), Decimal(debit_note.total_amount_due))
