#pragma once

#include <string>
#include <vector>

namespace breakfix::cli {

// A plain text table for terminals: a header row and columns padded to their widest
// cell, like `docker ps`. Hand-written: Debian 12 packages no C++ table library.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void add_row(std::vector<std::string> cells);  // missing cells are blank, extra ones dropped
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] holds the headers
};

// Width on a terminal, counting UTF-8 code points (good enough for titles in
// European scripts; wide CJK characters would count as one).
std::size_t display_width(const std::string& text);

}  // namespace breakfix::cli
