"""Market strategy: price caps per usage counter, a per-node budget, and no retry on a bad provider."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from yapapi import rest
from yapapi.strategy import SCORE_REJECTED, LeastExpensiveLinearPayuMS

from erigolem_desktop.core.backends.golem.config import GolemConfig

DURATION_COUNTER = "golem.usage.duration_sec"
REQUESTS_COUNTER = "golem.usage.erigon.requests"

log = logging.getLogger(__name__)


class ErigonStrategy(LeastExpensiveLinearPayuMS):
    """Linear pay-as-you-go offers under our caps, cheapest first; excluded providers rejected.

    Prices are capped per counter (`golem.usage.duration_sec`, `golem.usage.erigon.requests`) and
    for the fixed start price. A provider where a start failed is excluded so the next attempt
    lands elsewhere. Debit notes and invoices are accepted up to the node's budget; above it
    they are left unaccepted (yagna cannot reject) and the node is stopped by the service.
    Mid-agreement payments come from yapapi's base strategy: negotiated when the agreement is
    long (>= 5 h) and the provider offers a debit-note interval.
    """

    def __init__(self, config: GolemConfig) -> None:
        super().__init__(
            expected_time_secs=3600,
            max_fixed_price=config.max_start_price,
            max_price_for={
                DURATION_COUNTER: config.max_price_duration,
                REQUESTS_COUNTER: config.max_price_requests,
            },
        )
        self.excluded_providers: set[str] = set()
        self.agreement_budgets: dict[str, Decimal] = {}

    async def score_offer(self, offer: rest.market.OfferProposal) -> float:
        if offer.issuer in self.excluded_providers:
            log.debug("Rejected offer %s: provider %s failed a start", offer.id, offer.issuer)
            return SCORE_REJECTED
        return float(await super().score_offer(offer))

    def _cap(self, agreement_id: str, amount: Decimal) -> Decimal:
        budget = self.agreement_budgets.get(agreement_id)
        return amount if budget is None else min(amount, budget)

    async def invoice_accepted_amount(self, invoice: Any) -> Decimal:
        return self._cap(str(invoice.agreement_id), Decimal(invoice.amount))

    async def debit_note_accepted_amount(self, debit_note: Any) -> Decimal:
        return self._cap(str(debit_note.agreement_id), Decimal(debit_note.total_amount_due))
