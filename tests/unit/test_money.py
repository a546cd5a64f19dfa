"""Currencies and exact minor units (money.py): the exponent follows the currency, nothing is rounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.money import CURRENCIES, check_currency, exponent, from_minor, is_currency, to_minor


@pytest.mark.parametrize(("code", "decimals"), [
    ("CNY", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("HKD", 2), ("TWD", 2),
    ("JPY", 0), ("KRW", 0), ("VND", 0), ("CLP", 0),
    ("BHD", 3), ("KWD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3),
])
def test_the_exponent_is_iso_4217s_minor_unit(code, decimals):
    assert exponent(code) == decimals


@pytest.mark.parametrize(("value", "code", "minor"), [
    (59.9, "CNY", 5990), (0.01, "USD", 1), (0.1 + 0.2, "EUR", 30), (1.005, "USD", None),
    (1500, "JPY", 1500), (12.5, "JPY", None), (0.5, "KRW", None),
    (1.234, "KWD", 1234), (0.001, "BHD", 1), (1.2345, "OMR", None),
    (0.001, "CNY", None), (0.125, "CNY", None), (0, "CNY", 0),
])
def test_to_minor_is_exact_or_refuses(value, code, minor):
    # 1.005 * 100 is 100.49999999999999 in floating point, but 1.005 has a third decimal: not USD.
    assert to_minor(value, code) == minor


@pytest.mark.parametrize(("minor", "code", "value"), [
    (5990, "CNY", 59.9), (1, "USD", 0.01), (1500, "JPY", 1500), (1234567, "KWD", 1234.567),
    (1, "BHD", 0.001), (0, "EUR", 0),
])
def test_from_minor_keeps_every_decimal_of_the_currency(minor, code, value):
    assert from_minor(minor, code) == value
    assert repr(from_minor(minor, code)) == repr(float(value))  # the shortest repr is the decimal


@given(st.sampled_from(sorted(CURRENCIES)), st.integers(0, 10**12))
def test_minor_units_survive_the_wire_number(code, minor):
    assert to_minor(from_minor(minor, code), code) == minor


@pytest.mark.parametrize("bad", ["usd", "US", "USDX", "XYZ", "XAU", "", None, 840, " USD"])
def test_only_known_uppercase_codes_are_currencies(bad):
    assert not is_currency(bad)
    with pytest.raises(ValueError, match="currency"):
        check_currency(bad)


def test_a_known_code_passes():
    assert check_currency("JPY") == "JPY" and is_currency("KWD")
