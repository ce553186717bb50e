"""Plain-text rendering of an invoice, as sent in the billing e-mail."""
from .money import format_money


def render_text(invoice):
    cur = invoice.currency
    out = ["Invoice %s" % invoice.number, "Customer: %s" % invoice.customer, ""]
    for line in invoice.lines:
        out.append("%-30s %4d x %12s %16s" % (
            line.description[:30], line.quantity,
            format_money(line.unit_price, cur), format_money(invoice.line_gross(line), cur)))
    out.append("")
    if invoice.discount_percent:
        out.append("%-50s %16s" % ("Discount %s%%" % invoice.discount_percent,
                                   "-" + format_money(invoice.discount_amount(), cur)))
    out.append("%-50s %16s" % ("Net", format_money(invoice.subtotal(), cur)))
    for rate, vat in invoice.vat_by_rate().items():
        out.append("%-50s %16s" % ("VAT %s%%" % rate, format_money(vat, cur)))
    out.append("%-50s %16s" % ("Total", format_money(invoice.total(), cur)))
    return "\n".join(out) + "\n"
