"""Money helpers.

Every amount is a Decimal; floats never hold money (0.1 + 0.2 != 0.3). Amounts
are rounded to the cent half up, as accounting requires (0.005 -> 0.01), never
with Python's round(), which rounds half to even.
"""
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_money(value):
    """Turn "12.50", 12 or Decimal("12.5") into a Decimal. Floats are refused."""
    if isinstance(value, float):
        raise TypeError("money must be str, int or Decimal, not float: %r" % value)
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


def round_cents(amount):
    """Round an amount half up to the cent: 2.675 -> 2.68, 0.125 -> 0.13."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount, currency="EUR"):
    """'1,234.50 EUR' -- thousands separated, always two decimals."""
    return "{:,.2f} {}".format(round_cents(amount), currency)
