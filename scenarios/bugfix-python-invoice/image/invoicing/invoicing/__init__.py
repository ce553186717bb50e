"""Invoice arithmetic for the billing run: line totals, discounts, VAT."""

from .money import CENT, format_money, round_cents, to_money
from .invoice import Invoice, LineItem
from .render import render_text

__all__ = ["CENT", "Invoice", "LineItem", "format_money", "render_text",
           "round_cents", "to_money"]
