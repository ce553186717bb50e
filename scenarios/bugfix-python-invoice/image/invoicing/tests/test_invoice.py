import unittest
from decimal import Decimal

from invoicing import Invoice


class InvoiceTest(unittest.TestCase):
    def test_lines_without_discount(self):
        inv = Invoice("T-1", "Test")
        a = inv.add_line("Widget", 3, "19.99")
        b = inv.add_line("Gadget", 2, "5.05")
        self.assertEqual(inv.line_net(a), Decimal("59.97"))
        self.assertEqual(inv.line_net(b), Decimal("10.10"))
        self.assertEqual(inv.subtotal(), Decimal("70.07"))

    def test_vat_per_rate(self):
        inv = Invoice("T-2", "Test")
        inv.add_line("Book", 1, "24.95", vat_rate="7")
        inv.add_line("Pen", 4, "2.50")
        inv.add_line("Ink", 1, "7.45")
        # 7 % of 24.95 = 1.7465; 19 % of 17.45 = 3.3155 -> half up
        self.assertEqual(inv.vat_by_rate(), {Decimal("7"): Decimal("1.75"),
                                             Decimal("19"): Decimal("3.32")})
        self.assertEqual(inv.vat_total(), Decimal("5.07"))
        self.assertEqual(inv.total(), Decimal("47.47"))

    def test_discount(self):
        inv = Invoice("T-3", "Test", discount_percent=10)
        line = inv.add_line("Widget", 2, "50.00")
        self.assertEqual(inv.line_net(line), Decimal("90.00"))
        self.assertEqual(inv.discount_amount(), Decimal("10.00"))

    def test_invoice_2024_0117(self):
        # Brandt & Soehne, 15 % framework discount: the figures their
        # accounting sent us.
        inv = Invoice("2024-0117", "Brandt & Söhne KG", discount_percent=15)
        inv.add_line("Support hours", 14, "86.50")
        storage = inv.add_line("Cloud storage 1 TB", 3, "24.90")
        inv.add_line("On-site visit", 1, "450.00")
        inv.add_line("USB-C docking station", 2, "189.90")
        manuals = inv.add_line("Training manual (print)", 5, "30.70", vat_rate="7")
        self.assertEqual(inv.line_net(storage), Decimal("63.50"))
        self.assertEqual(inv.line_net(manuals), Decimal("130.48"))
        self.assertEqual(inv.subtotal(), Decimal("1928.66"))
        self.assertEqual(inv.total(), Decimal("2279.44"))

    def test_discount_must_be_a_percentage(self):
        with self.assertRaises(ValueError):
            Invoice("T-4", "Test", discount_percent=120)
        with self.assertRaises(TypeError):
            Invoice("T-4", "Test", discount_percent=12.5)

    def test_quantity_must_be_positive(self):
        with self.assertRaises(ValueError):
            Invoice("T-5", "Test").add_line("Nothing", 0, "1.00")


if __name__ == "__main__":
    unittest.main()
