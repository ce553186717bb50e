#include <doctest/doctest.h>

#include "cli/table.h"

using breakfix::cli::display_width;
using breakfix::cli::Table;

TEST_CASE("A table pads every column but the last to its widest cell") {
  Table table({"ID", "TITLE"});
  table.add_row({"web-502", "Checkout returns 502"});
  table.add_row({"db", "Postgres"});
  CHECK(table.render() ==
        "ID       TITLE\n"
        "web-502  Checkout returns 502\n"
        "db       Postgres\n");
}

TEST_CASE("A table counts UTF-8 characters, not bytes, and fills missing cells") {
  CHECK(display_width("café") == 4);
  Table table({"A", "B", "C"});
  table.add_row({"é", "x"});
  CHECK(table.render() == "A  B  C\né  x  \n");
}
