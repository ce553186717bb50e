import unittest
from decimal import Decimal

from invoicing import format_money, round_cents, to_money


class MoneyTest(unittest.TestCase):
    def test_to_money(self):
        self.assertEqual(to_money("12.50"), Decimal("12.50"))
        self.assertEqual(to_money(3), Decimal("3"))
        self.assertEqual(to_money(Decimal("0.1")), Decimal("0.1"))

    def test_to_money_refuses_float(self):
        with self.assertRaises(TypeError):
            to_money(0.1)

    def test_round_cents_half_up(self):
        self.assertEqual(round_cents(Decimal("2.675")), Decimal("2.68"))
        self.assertEqual(round_cents(Decimal("0.125")), Decimal("0.13"))
        self.assertEqual(round_cents(Decimal("0.124999")), Decimal("0.12"))
        self.assertEqual(round_cents(Decimal("10")), Decimal("10.00"))

    def test_format_money(self):
        self.assertEqual(format_money(Decimal("1234.5")), "1,234.50 EUR")
        self.assertEqual(format_money(Decimal("0.005"), "CHF"), "0.01 CHF")


if __name__ == "__main__":
    unittest.main()
