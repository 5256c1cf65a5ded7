"""Cost model: prices, amortization, energy, and the labels on every derived figure."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.controller.cost import (
    HOURS_PER_MONTH,
    HOURS_PER_YEAR,
    Measurement,
    PowerBasis,
    estimate_cost,
    monthly_cost,
    parse_cost,
    resolve_power,
)
from rigbench.controller.inventory import Cost

OWNED = Cost(purchase_usd=876.6, lifetime_years=1.0, electricity_usd_per_kwh=0.25)
CLOUD = Cost(hourly_usd=3.6)

positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_hourly_price_per_million_is_price_over_inferences_per_hour() -> None:
    est = estimate_cost(CLOUD, Measurement(throughput_ips=1000.0))
    # 1000 inf/s = 3.6 M inf/h: $3.6/h is $1 per million.
    assert est.usd_per_million == pytest.approx(1.0)
    assert est.pricing == "hourly"


def test_hourly_price_needs_no_power_and_says_energy_is_included() -> None:
    est = estimate_cost(CLOUD, Measurement(throughput_ips=1000.0))
    assert est.known
    assert "energy is included in the hourly price" in est.notes


def test_owned_cost_amortizes_purchase_and_adds_measured_energy() -> None:
    # $876.6 over one year = $0.1/h; 100 W at $0.25/kWh = $0.025/h; 100 inf/s = 0.36 M/h.
    est = estimate_cost(
        OWNED, Measurement(throughput_ips=100.0, avg_power_mw=100_000.0, energy_source="ext")
    )
    assert est.usd_per_million == pytest.approx((876.6 / HOURS_PER_YEAR + 0.025) / 0.36)
    assert est.power.basis is PowerBasis.measured


def test_utilization_spreads_the_purchase_over_fewer_serving_hours() -> None:
    full = estimate_cost(
        OWNED.model_copy(update={"electricity_usd_per_kwh": 0.0}),
        Measurement(throughput_ips=100.0, avg_power_mw=1.0),
    )
    half = estimate_cost(
        OWNED.model_copy(update={"electricity_usd_per_kwh": 0.0, "utilization": 0.5}),
        Measurement(throughput_ips=100.0, avg_power_mw=1.0),
    )
    assert half.usd_per_million == pytest.approx(2 * full.usd_per_million)


def test_missing_cost_is_unknown_not_free() -> None:
    est = estimate_cost(None, Measurement(throughput_ips=100.0))
    assert est.usd_per_million is None
    assert est.unknown_reason == "no cost in the inventory for this device"


def test_owned_device_without_power_or_nameplate_has_unknown_cost() -> None:
    est = estimate_cost(OWNED, Measurement(throughput_ips=100.0))
    assert est.usd_per_million is None
    assert "no power measured and no nameplate_w" in (est.unknown_reason or "")


def test_owned_device_without_electricity_price_has_unknown_cost() -> None:
    cost = Cost(purchase_usd=100.0)
    est = estimate_cost(cost, Measurement(throughput_ips=100.0, avg_power_mw=5000.0))
    assert est.usd_per_million is None
    assert "electricity_usd_per_kwh" in (est.unknown_reason or "")


def test_nameplate_power_stands_in_and_is_labelled_estimated() -> None:
    cost = OWNED.model_copy(update={"nameplate_w": 28.0})
    est = estimate_cost(cost, Measurement(throughput_ips=100.0))
    assert est.power.basis is PowerBasis.nameplate
    assert est.power.energy_per_inference_mj == pytest.approx(280.0)
    assert est.estimated
    assert "power (nameplate 28 W)" in est.basis.estimated


def test_measured_power_wins_over_nameplate() -> None:
    cost = OWNED.model_copy(update={"nameplate_w": 28.0})
    power = resolve_power(Measurement(100.0, avg_power_mw=5000.0, energy_source="rpi:total"), cost)
    assert (power.watts, power.basis) == (5.0, PowerBasis.measured)


def test_replayed_power_is_labelled_simulated_not_measured() -> None:
    est = estimate_cost(
        OWNED, Measurement(100.0, avg_power_mw=5000.0, energy_source="rpi:total", simulated=True)
    )
    assert est.simulated
    assert est.basis.simulated == ("power (rpi:total)",)
    assert not any("power" in m for m in est.basis.measured)


def test_basis_names_measured_and_assumed_inputs() -> None:
    est = estimate_cost(OWNED, Measurement(100.0, avg_power_mw=5000.0, energy_source="rapl"))
    text = est.basis.describe()
    assert text.startswith("measured: throughput, power (rapl); assumed: purchase $876.6 over 1 y")
    assert "electricity $0.25/kWh" in text


def test_invalid_stored_cost_counts_as_missing() -> None:
    assert parse_cost({"hourly_usd": 1.0, "purchase_usd": 2.0}) is None


@given(ips=positive, price=positive)
def test_hourly_cost_per_million_halves_when_throughput_doubles(ips: float, price: float) -> None:
    one = estimate_cost(Cost(hourly_usd=price), Measurement(throughput_ips=ips))
    two = estimate_cost(Cost(hourly_usd=price), Measurement(throughput_ips=2 * ips))
    assert one.usd_per_million is not None and two.usd_per_million is not None
    assert math.isclose(one.usd_per_million, 2 * two.usd_per_million, rel_tol=1e-9)


@given(ips=positive, watts=positive, kwh=st.floats(min_value=0, max_value=5))
def test_owned_cost_is_never_below_its_energy_cost(ips: float, watts: float, kwh: float) -> None:
    cost = Cost(purchase_usd=100.0, electricity_usd_per_kwh=kwh)
    est = estimate_cost(cost, Measurement(throughput_ips=ips, avg_power_mw=watts * 1000))
    energy_per_million = watts / ips * 1e6 / 3.6e6 * kwh  # J per inference -> kWh -> USD
    assert est.usd_per_million is not None
    assert est.usd_per_million >= energy_per_million * (1 - 1e-9)


def test_monthly_cost_of_instances_is_hours_times_price() -> None:
    power = resolve_power(Measurement(100.0), CLOUD)
    assert monthly_cost(CLOUD, power, 3).usd == pytest.approx(3 * 3.6 * HOURS_PER_MONTH)


def test_monthly_cost_of_owned_devices_is_amortization_plus_energy() -> None:
    power = resolve_power(Measurement(100.0, avg_power_mw=10_000.0), OWNED)
    expected = 2 * (876.6 / 12 + 0.010 * HOURS_PER_MONTH * 0.25)
    assert monthly_cost(OWNED, power, 2).usd == pytest.approx(expected)


def test_monthly_cost_without_cost_data_is_unknown() -> None:
    m = monthly_cost(None, resolve_power(Measurement(100.0), None), 4)
    assert m.usd is None and m.unknown_reason
