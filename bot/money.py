"""Real money, as the providers bill it: US dollars kept as whole millionths."""

from __future__ import annotations

from decimal import Decimal

MICROS = 1_000_000


def to_micros(usd: Decimal) -> int:
    """Dollars to millionths of a dollar (the unit money is stored in)."""
    return int(usd * MICROS)


def usd(micros: int) -> str:
    """Millionths of a dollar as a price: "$0.06", "$0.055", "$12.40"."""
    text = f"{Decimal(micros) / MICROS:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
