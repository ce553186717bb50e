import unittest

from invoicing import Invoice, render_text

EXPECTED = """\
Invoice 2024-0099
Customer: Muster AG

Consulting                        2 x   950.00 EUR     1,900.00 EUR
Book                              1 x    24.95 EUR        24.95 EUR

Net                                                    1,924.95 EUR
VAT 7%                                                     1.75 EUR
VAT 19%                                                  361.00 EUR
Total                                                  2,287.70 EUR
"""


class RenderTest(unittest.TestCase):
    def test_render_without_discount(self):
        inv = Invoice("2024-0099", "Muster AG")
        inv.add_line("Consulting", 2, "950.00")
        inv.add_line("Book", 1, "24.95", vat_rate="7")
        self.assertEqual(render_text(inv), EXPECTED)


if __name__ == "__main__":
    unittest.main()
