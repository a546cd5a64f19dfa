"""Currencies and exact minor units: a room's money is integers of its currency's minor unit inside.

A room has one currency (ISO 4217 code, `POST /api/rooms/{room}/currency`), and the currency says how
many decimals a price may have: JPY and KRW none, CNY and USD two, KWD and BHD three (ISO 4217's "minor
unit"). `to_minor` turns a wire number into that integer and refuses a fraction of the minor unit
instead of rounding it away (0.001 CNY, 12.5 JPY); `from_minor` turns it back into the number the wire
shows. Pure: no I/O, no settings.
"""

from __future__ import annotations

import re

__all__ = ["CURRENCIES", "DEFAULT_CURRENCY", "LEGACY_CURRENCY", "check_currency", "exponent",
           "from_minor", "is_currency", "to_minor"]

DEFAULT_CURRENCY = "CNY"
# Money stored before rooms had a currency was always cents (two decimals): read it as this.
LEGACY_CURRENCY = "CNY"

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD "
    "CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD "
    "HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
    "MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON "
    "RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TOP TRY TTD TWD TZS "
    "UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL"
)
# ISO 4217 code -> minor-unit exponent (decimals), for the active currencies a shop may sell in.
# Fund and metal codes (XAU, CLF, ...) are left out on purpose: nobody prices a deal in them.
CURRENCIES: dict[str, int] = {
    **dict.fromkeys(_TWO.split(), 2), **dict.fromkeys(_ZERO.split(), 0), **dict.fromkeys(_THREE.split(), 3)}

_SCALE = (1, 10, 100, 1000)  # by exponent
_CODE = re.compile(r"[A-Z]{3}\Z")


def is_currency(code: object) -> bool:
    return isinstance(code, str) and _CODE.match(code) is not None and code in CURRENCIES


def check_currency(code: object) -> str:
    """`code` when it is a known currency, else ValueError saying why (the caller words the answer)."""
    if not isinstance(code, str) or _CODE.match(code) is None:
        raise ValueError(f"currency must be an ISO 4217 code of 3 uppercase letters, not {code!r}")
    if code not in CURRENCIES:
        raise ValueError(f"currency {code} is not a known ISO 4217 currency")
    return code


def exponent(currency: str) -> int:
    """Decimals of `currency`'s minor unit: JPY 0, CNY 2, KWD 3. KeyError for an unknown code."""
    return CURRENCIES[currency]


def to_minor(value: float, currency: str) -> int | None:
    """`value` (major units) as an integer of `currency`'s minor unit, or None when it has a fraction of
    one: never rounded (`round(0.125, 2)` gave 0.12, a deal price of 0.001 became 0, 12.5 JPY is no
    price). A float's binary error (0.1 + 0.2, 1.005 * 100) is tolerated, a real extra decimal is not."""
    scaled = value * _SCALE[exponent(currency)]
    minor = round(scaled)
    return int(minor) if abs(scaled - minor) < 1e-6 * max(1.0, abs(scaled)) else None


def from_minor(minor: int, currency: str) -> float:
    """The wire number of `minor` minor units: the float nearest the exact decimal (1234567 KWD minor is
    1234.567, never cut to two decimals). Integer division by a power of ten is correctly rounded, so
    the shortest repr of the result is that decimal."""
    return int(minor) / _SCALE[exponent(currency)]
