"""The demand our payload and strategy produce, price caps, budgets, and the service's rules."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from yapapi.props.builder import DemandBuilder

from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.payload import (
    CHAINS_PROPERTY,
    CLIENTS_PROPERTY,
    ErigonPayload,
    demand_of,
)
from erigolem_desktop.core.backends.golem.service import (
    ErigonService,
    StartOutputError,
    parse_node_json,
)
from erigolem_desktop.core.backends.golem.strategy import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    ErigonStrategy,
)


def test_chain_properties_match_what_the_runtime_offers() -> None:
    offer = pytest.importorskip("erigolem_runtime.offer")
    assert CHAINS_PROPERTY == offer.PROP + "chains"
    assert CLIENTS_PROPERTY == offer.PROP + "clients"


@pytest.mark.asyncio
async def test_payload_constrains_runtime_chain_and_client() -> None:
    demand = await demand_of(ErigonPayload(chain="sepolia", client="erigon"))
    text = demand["constraints"]
    assert "(golem.runtime.name=erigon)" in text
    assert f"({CHAINS_PROPERTY}=sepolia)" in text
    assert f"({CLIENTS_PROPERTY}=erigon)" in text
    assert text.startswith("(&")
    assert demand["properties"] == {}


@pytest.mark.asyncio
async def test_strategy_adds_linear_pricing_constraint() -> None:
    builder = DemandBuilder()  # type: ignore[no-untyped-call]
    await builder.decorate(
        ErigonPayload(chain="dev", client="anvil"), ErigonStrategy(GolemConfig())
    )
    assert "(golem.com.pricing.model=linear)" in builder.constraints
    assert "(golem.runtime.erigon.chains=dev)" in builder.constraints


def _offer(duration: float, requests: float, fixed: float = 0.0, issuer: str = "0xp1") -> Any:
    return SimpleNamespace(
        id="offer-1",
        issuer=issuer,
        props={
            "golem.com.scheme": "payu",
            "golem.com.pricing.model": "linear",
            "golem.com.usage.vector": [DURATION_COUNTER, REQUESTS_COUNTER],
            "golem.com.pricing.model.linear.coeffs": [duration, requests, fixed],
        },
    )


@pytest.mark.asyncio
async def test_price_caps_per_counter_and_fixed_price() -> None:
    config = GolemConfig(
        max_price_duration=Decimal("0.001"),
        max_price_requests=Decimal("0.0001"),
        max_start_price=Decimal("0.1"),
    )
    strategy = ErigonStrategy(config)
    assert await strategy.score_offer(_offer(0.0005, 0.00005)) > 0
    assert await strategy.score_offer(_offer(0.002, 0.00005)) < 0  # time too dear
    assert await strategy.score_offer(_offer(0.0005, 0.001)) < 0  # requests too dear
    assert await strategy.score_offer(_offer(0.0005, 0.00005, fixed=1.0)) < 0  # start too dear
    cheap = await strategy.score_offer(_offer(0.0001, 0.00001))
    dear = await strategy.score_offer(_offer(0.0009, 0.00009))
    assert cheap > dear


@pytest.mark.asyncio
async def test_provider_with_failed_start_is_excluded() -> None:
    strategy = ErigonStrategy(GolemConfig())
    strategy.exclude("node-1", "0xbad")
    assert await strategy.score_offer(_offer(0.0001, 0.00001, issuer="0xbad")) < 0
    assert await strategy.score_offer(_offer(0.0001, 0.00001, issuer="0xgood")) > 0


@pytest.mark.asyncio
async def test_debit_notes_and_invoices_accepted_as_far_as_the_acceptor_allows() -> None:
    asked: list[tuple[str, Decimal]] = []

    def acceptor(agreement_id: str, amount: Decimal) -> Decimal:
        asked.append((agreement_id, amount))
        return min(amount, Decimal("0.5"))

    strategy = ErigonStrategy(GolemConfig(), acceptor=acceptor)
    note = SimpleNamespace(agreement_id="agr", total_amount_due="0.2")
    over = SimpleNamespace(agreement_id="agr", amount="0.7")
    assert await strategy.debit_note_accepted_amount(note) == Decimal("0.2")
    assert await strategy.invoice_accepted_amount(over) == Decimal("0.5")  # < amount: not accepted
    assert asked == [("agr", Decimal("0.2")), ("agr", Decimal("0.7"))]


def test_start_output_must_carry_url_and_auth() -> None:
    good = '{"url": "https://p/x/", "auth": {"user": "u", "password": "p"}, "state": "ready"}'
    assert parse_node_json(good, "start output").to_json()["state"] == "ready"
    for bad in ("", "not json", "[1]", '{"url": "x"}', '{"url": "x", "auth": {"user": 1}}'):
        with pytest.raises(StartOutputError):
            parse_node_json(bad, "start output")


def test_failed_start_retried_elsewhere_but_bounded() -> None:
    """Real yapapi Service objects: restart only while attempts remain, provider excluded."""
    excluded: list[str] = []
    service = ErigonService(
        start_arg={"chain": "dev", "client": "anvil"},
        max_attempts=2,
        on_provider_failed=excluded.append,
    )
    assert service.restart_condition is False  # no error yet
    service._exc_info = (RuntimeError, RuntimeError("boom"), None)  # type: ignore[assignment]
    service.attempts = 1
    assert service.restart_condition is True
    service.attempts = 2
    assert service.restart_condition is False
    service._record_failure(RuntimeError("deploy failed"))
    assert service.failure_reason() == "?: deploy failed (tried 2 provider(s))"
    assert excluded == []  # no provider known without an activity


def test_config_settings_win_over_environment() -> None:
    env = {
        "YAGNA_API_URL": "http://127.0.0.1:9/",
        "YAGNA_APPKEY": "secret-key-xyz",
        "YAGNA_PAYMENT_NETWORK": "Hoodi",
    }
    config = GolemConfig.load({"budget_glm": "2.5", "subnet": "erigolem"}, env)
    assert config.api_url == "http://127.0.0.1:9"
    assert config.app_key == "secret-key-xyz"
    assert "secret-key-xyz" not in repr(config)
    assert config.payment_platform == "erc20-hoodi-tglm"
    assert config.budget_glm == Decimal("2.5")
    assert config.subnet == "erigolem"
    with pytest.raises(ValueError, match="budget_glm"):
        GolemConfig.load({"budget_glm": "lots"}, {})
    with pytest.raises(ValueError, match="non-negative"):
        GolemConfig.load({"budget_glm": "-1"}, {})


class _State:
    def __init__(self, state: list[str | None]) -> None:
        self.state = state


class _Ctx:
    """Stands for yapapi's WorkContext: only the activity state query is used here."""

    provider_name = "prov-x"
    provider_id = "0xprov"

    def __init__(self, state: list[str | None]) -> None:
        self._state = state

    async def get_raw_state(self) -> _State:
        return _State(self._state)


@pytest.mark.asyncio
async def test_lost_provider_detected_from_state_or_repeated_status_failures() -> None:
    from erigolem_desktop.core.backends.golem.service import MAX_STATUS_FAILURES, NodeGone

    service = ErigonService(start_arg={"chain": "dev", "client": "anvil"})
    service._set_ctx(_Ctx(["Ready", None]))  # type: ignore[arg-type]
    service.status_failures = 1
    await service._check_alive(RuntimeError("status failed"))  # one failure: keep going
    service.status_failures = MAX_STATUS_FAILURES
    with pytest.raises(NodeGone, match="stopped answering: status failed"):
        await service._check_alive(RuntimeError("status failed"))
    assert service.failure_reason() == "provider prov-x stopped answering: status failed"

    gone = ErigonService(start_arg={})
    gone._set_ctx(_Ctx(["Terminated", None]))  # type: ignore[arg-type]
    gone.status_failures = 1
    with pytest.raises(NodeGone, match="ended the activity"):
        await gone._check_alive(RuntimeError("x"))
