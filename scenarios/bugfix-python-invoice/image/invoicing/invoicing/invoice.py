"""Invoices: lines, an optional discount, VAT per rate.

The rules (from accounting, see README.md):
  * a line's net amount is quantity x unit price, less the invoice discount,
    rounded half up to the cent -- per line;
  * VAT is computed per rate on the sum of the net lines at that rate, and
    rounded half up to the cent;
  * total = sum of the net lines + VAT.
"""
from dataclasses import dataclass
from decimal import Decimal

from .money import round_cents, to_money


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: int
    unit_price: Decimal
    vat_rate: Decimal           # percent, e.g. Decimal("19")


class Invoice:
    def __init__(self, number, customer, discount_percent=0, currency="EUR"):
        """discount_percent: 0 to 100, an int (15) or a Decimal (Decimal("12.5"));
        it applies to every line of the invoice."""
        if isinstance(discount_percent, float):
            raise TypeError("discount_percent must be int or Decimal, not float")
        if not 0 <= discount_percent <= 100:
            raise ValueError("discount_percent must be between 0 and 100")
        self.number = number
        self.customer = customer
        self.discount_percent = discount_percent
        self.currency = currency
        self.lines = []

    def add_line(self, description, quantity, unit_price, vat_rate="19"):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        line = LineItem(description, quantity, to_money(unit_price), to_money(vat_rate))
        self.lines.append(line)
        return line

    def line_gross(self, line):
        """quantity x unit price, before the discount."""
        return round_cents(line.quantity * line.unit_price)

    def line_net(self, line):
        """quantity x unit price less the discount, rounded to the cent."""
        amount = line.quantity * line.unit_price
        if self.discount_percent:
            amount *= Decimal(1 - self.discount_percent / 100)
        return round_cents(amount)

    def gross(self):
        return sum((self.line_gross(l) for l in self.lines), Decimal("0.00"))

    def subtotal(self):
        """Sum of the net lines."""
        return sum((self.line_net(l) for l in self.lines), Decimal("0.00"))

    def discount_amount(self):
        return self.gross() - self.subtotal()

    def vat_by_rate(self):
        """{rate: VAT} over the net lines, one rounding per rate."""
        nets = {}
        for line in self.lines:
            nets[line.vat_rate] = nets.get(line.vat_rate, Decimal("0")) + self.line_net(line)
        return {rate: round_cents(net * rate / 100) for rate, net in sorted(nets.items())}

    def vat_total(self):
        return sum(self.vat_by_rate().values(), Decimal("0.00"))

    def total(self):
        return self.subtotal() + self.vat_total()
