#include <doctest/doctest.h>

#include "session/text_diff.h"

using breakfix::looks_like_text;
using breakfix::unified_diff;

TEST_CASE("A changed line shows with its context, as diff -u shows it") {
  const auto diff = unified_diff("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n", "x (at ready)", "x (at the end)", 4096);
  CHECK(diff.text == "--- x (at ready)\n+++ x (at the end)\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n");
  CHECK_FALSE(diff.cut);
  CHECK(unified_diff("same\n", "same\n", "a", "b", 4096).text.empty());
}

TEST_CASE("A created or deleted file is a diff against nothing") {
  CHECK(unified_diff("", "one\ntwo\n", "/dev/null", "f", 4096).text == "--- /dev/null\n+++ f\n@@ -0,0 +1,2 @@\n+one\n+two\n");
  CHECK(unified_diff("one\n", "", "f", "/dev/null", 4096).text == "--- f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-one\n");
}

TEST_CASE("A missing final newline is shown, a long diff is cut at a line") {
  const auto newline = unified_diff("x\n", "x", "a", "b", 4096);
  CHECK(newline.text.find("\\ No newline at end of file\n") != std::string::npos);
  std::string before, after;
  for (int i = 0; i < 500; ++i) before += "line " + std::to_string(i) + "\n", after += "LINE " + std::to_string(i) + "\n";
  const auto cut = unified_diff(before, after, "a", "b", 300);
  CHECK(cut.cut);
  CHECK(cut.text.size() <= 300);
  CHECK(cut.text.back() == '\n');
  CHECK(looks_like_text("plain\n"));
  CHECK(looks_like_text(""));
  CHECK_FALSE(looks_like_text(std::string("ELF\0", 4)));
}
