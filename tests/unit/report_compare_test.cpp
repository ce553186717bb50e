// report compare: reports side by side, and their CSV.

#include <doctest/doctest.h>

#include "cli/report_compare.h"

using namespace breakfix;
using namespace breakfix::cli;
using nlohmann::json;

namespace {

json report(const std::string& session, const std::string& candidate, double score, const json& first_fix_at,
            int rating) {
  return {{"session", session},
          {"scenario", {{"id", "web-502"}, {"title", "t"}, {"variant", nullptr}}},
          {"candidate", candidate},
          {"ready_at", "2026-11-27T10:00:00Z"},
          {"score", score},
          {"tampering", {{"tampered", false}, {"unchecked", nullptr}, {"paths", json::array()}}},
          {"hints", json::array({{{"number", 1}, {"given", true}}, {{"number", 2}, {"given", false}}})},
          {"notes", json::array({{{"time", "2026-11-27T10:05:00Z"}, {"text", "n"}}})},
          {"checks", json::array({{{"name", "checkout answers"}, {"passed", !first_fix_at.is_null()},
                                   {"first_passed_at", first_fix_at}},
                                  {{"name", "nginx in front"}, {"passed", true}, {"first_passed_at", "2026-11-27T10:00:30Z"}}})},
          {"rubric", json::array({{{"name", "method"},
                                   {"rating", rating ? json{{"level", rating}, {"of", 4}} : json(nullptr)}}})}};
}

}  // namespace

TEST_CASE("report compare puts candidates side by side: score, time to each fix, rubric") {
  auto compared = compare_reports({report("s1", "Ada", 1.0, "2026-11-27T10:12:05Z", 3), report("s2", "Bob, Jr.", 0.25, nullptr, 0)});
  REQUIRE(compared);
  CHECK(compared->headers == std::vector<std::string>{"session", "candidate", "variant", "score", "tampered", "hints", "notes",
                                                      "checkout answers", "nginx in front", "rubric: method"});
  CHECK(compared->rows[0] == std::vector<std::string>{"s1", "Ada", "-", "100%", "no", "1", "1", "pass 12:05", "pass 0:30", "3/4"});
  CHECK(compared->rows[1] == std::vector<std::string>{"s2", "Bob, Jr.", "-", "25%", "no", "1", "1", "fail", "pass 0:30", "-"});
  // A check that passed, then broke again, says when it had passed.
  json regressed = report("s3", "Cy", 0.5, "2026-11-27T10:01:00Z", 0);
  regressed["checks"][0]["passed"] = false;
  CHECK(compare_reports({regressed})->rows[0][7] == "fail (passed 1:00)");
  // CSV quotes what needs it and ends rows with CRLF.
  const std::string csv = to_csv(*compared);
  CHECK(csv.find("s2,\"Bob, Jr.\",-,25%,no,1,1,fail,pass 0:30,-\r\n") != std::string::npos);
  CHECK(csv.rfind("session,candidate,", 0) == 0);
}

TEST_CASE("report compare refuses reports of different scenarios, and unreadable ones, by session") {
  json other = report("s2", "Bob", 0.5, nullptr, 0);
  other["scenario"]["id"] = "disk-full";
  auto refused = compare_reports({report("s1", "Ada", 1.0, nullptr, 0), other});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "session s2 ran scenario disk-full, session s1 ran web-502: compare reports of one scenario");
  json broken = report("s4", "Di", 0.5, nullptr, 0);
  broken.erase("checks");
  auto unreadable = compare_reports({broken});
  REQUIRE_FALSE(unreadable);
  CHECK(unreadable.error().message.rfind("the report of session s4 cannot be read: ", 0) == 0);
  CHECK(to_csv({{"a\"b"}, {}}) == "\"a\"\"b\"\r\n");
}

TEST_CASE("report compare puts plans' sessions side by side part by part") {
  auto plan_report = [](const std::string& session, double first_score, int rating) {
    return json{{"kind", "plan"},
                {"session", session},
                {"plan", "interview"},
                {"candidate", "C " + session},
                {"score", first_score * 2 / 3},
                {"notes", json::array()},
                {"parts", json::array({{{"name", "break-fix"}, {"state", "graded"}, {"score", first_score},
                                        {"report", report(session + "a", "x", first_score, "2026-11-27T10:03:00Z", 0)}},
                                       {{"name", "ticket"}, {"state", nullptr}, {"score", nullptr}, {"report", nullptr}}})},
                {"rubric", json::array({{{"name", "communication"},
                                         {"rating", rating ? json{{"level", rating}, {"of", 4}} : json(nullptr)}}})}};
  };
  auto compared = compare_reports({plan_report("p1", 1.0, 4), plan_report("p2", 0.0, 0)});
  REQUIRE(compared);
  CHECK(compared->headers ==
        std::vector<std::string>{"session", "candidate", "score", "notes", "break-fix: score", "ticket: score",
                                 "break-fix: checkout answers", "break-fix: nginx in front", "break-fix: rubric: method",
                                 "rubric: communication"});
  CHECK(compared->rows[0] == std::vector<std::string>{"p1", "C p1", "67%", "0", "100%", "not started", "pass 3:00",
                                                      "pass 0:30", "-", "4/4"});
  CHECK(compared->rows[1][4] == "0%");
  CHECK(compared->rows[1].back() == "-");
  // A plan's report beside a scenario's is refused, naming both.
  auto mixed = compare_reports({plan_report("p1", 1.0, 4), report("s1", "Ada", 1.0, nullptr, 0)});
  REQUIRE_FALSE(mixed);
  CHECK(mixed.error().message == "session s1 ran scenario web-502, session p1 ran interview: compare reports of one plan");
}
