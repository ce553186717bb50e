#include <doctest/doctest.h>

#include "scenario/path_glob.h"

using breakfix::path_glob_matches;
using breakfix::path_glob_problem;

TEST_CASE("'*' and '?' stay within a path component, '**' spans any number of them") {
  CHECK(path_glob_matches("/usr/local/bin/wordfreq", "/usr/local/bin/wordfreq"));
  CHECK_FALSE(path_glob_matches("/usr/local/bin/wordfreq", "/usr/local/bin/wordfreq2"));
  CHECK(path_glob_matches("/etc/sudoers.d/*", "/etc/sudoers.d/deploy"));
  CHECK_FALSE(path_glob_matches("/etc/sudoers.d/*", "/etc/sudoers.d/a/b"));
  CHECK_FALSE(path_glob_matches("/etc/sudoers.d/*", "/etc/sudoers.d"));
  CHECK(path_glob_matches("/srv/app/*.c", "/srv/app/main.c"));
  CHECK(path_glob_matches("/var/log/app.log.?", "/var/log/app.log.1"));
  CHECK_FALSE(path_glob_matches("/var/log/app.log.?", "/var/log/app.log.12"));
  CHECK(path_glob_matches("/srv/app/**", "/srv/app"));
  CHECK(path_glob_matches("/srv/app/**", "/srv/app/a/b/c.o"));
  CHECK_FALSE(path_glob_matches("/srv/app/**", "/srv/application"));
  CHECK(path_glob_matches("/srv/**/*.c", "/srv/x.c"));
  CHECK(path_glob_matches("/srv/**/*.c", "/srv/a/b/x.c"));
  CHECK_FALSE(path_glob_matches("/srv/**/*.c", "/srv/a/b/x.h"));
  CHECK(path_glob_matches("/*/wordfreq*", "/srv/wordfreq.c"));
  CHECK(path_glob_matches("/a*b*c", "/aXXbYYbZc"));
}

TEST_CASE("A pattern must be absolute, normalized, and must not match everything") {
  CHECK(path_glob_problem("/srv/app/**").empty());
  CHECK(path_glob_problem("/").empty() == true);
  CHECK(path_glob_problem("srv") != "");
  CHECK(path_glob_problem("") != "");
  CHECK(path_glob_problem("/srv//app") != "");
  CHECK(path_glob_problem("/srv/./app") != "");
  CHECK(path_glob_problem("/srv/app/") != "");
  CHECK(path_glob_problem("/srv/app**") != "");
  CHECK(path_glob_problem("/**").find("matches every path") != std::string::npos);
  CHECK(path_glob_problem("/*/**").find("matches every path") != std::string::npos);
  CHECK(path_glob_problem("/**/**/**/**/**/x") != "");
  CHECK(path_glob_problem("/a\nb") != "");
}

TEST_CASE("A deep path a candidate made is matched in bounded time, whatever the pattern's '**'s") {
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "/a";
  CHECK_FALSE(path_glob_matches("/**/a/**/a/**/a/**/b", deep));  // would backtrack ~2000^4 ways
  CHECK(path_glob_matches("/**/a/**/a/**/a/**/a", deep));
}
