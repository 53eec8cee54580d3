"""Money: a Decimal amount with a currency. KRW has no minor unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings

# ISO 4217 minor units of the currencies Dangol trades in.
MINOR_UNITS = {"KRW": 0, "JPY": 0, "USD": 2, "EUR": 2, "CNY": 2}
SYMBOLS = {"KRW": "₩", "USD": "$", "EUR": "€", "JPY": "¥", "CNY": "CN¥"}


def default_currency() -> str:
    return str(getattr(settings, "DEFAULT_CURRENCY", "KRW"))


def quantize(amount: Decimal | int | str, currency: str | None = None) -> Decimal:
    """Round `amount` half-up to the minor unit of `currency` (whole won for KRW)."""
    currency = (currency or default_currency()).upper()
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    places = MINOR_UNITS.get(currency, 2)
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str = "KRW"

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str | None = None) -> Money:
        cur = (currency or default_currency()).upper()
        return cls(quantize(amount, cur), cur)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError("cannot add amounts in different currencies")
        return Money(self.amount + other.amount, self.currency)

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)


def format_money(amount: Decimal | int | float | None, currency: str = "KRW") -> str:
    """₩1,234,000 / $12.50 — grouping with commas, the currency's minor unit."""
    if amount is None:
        return "—"
    cur = currency.upper()
    value = quantize(Decimal(str(amount)), cur)
    places = MINOR_UNITS.get(cur, 2)
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.{places}f}"
    return f"{sign}{SYMBOLS.get(cur, cur + ' ')}{body}"
