// `breakfix session start|list|show|extend|next|end|grade|report|rm`: the interviewer's
// commands, all talking to the daemon's REST API (cli/api_call.h). Every read command
// prints a table or, with -o json, the API's JSON as is.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "breakfix/duration.h"
#include "cli/api_call.h"
#include "cli/exit_codes.h"
#include "cli/runtime_commands.h"
#include "cli/table.h"

namespace breakfix::cli {
namespace {

using nlohmann::json;

std::string text(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string minutes_left(const json& session) {
  if (session["state"] != "ready") return "-";
  const auto seconds = session["time_left_s"].get<std::int64_t>();
  return std::to_string(seconds / 60) + "m" + (seconds % 60 < 10 ? "0" : "") + std::to_string(seconds % 60) + "s";
}

std::string score_text(const json& session) {
  if (!session.contains("score") || session["score"].is_null()) return "-";
  return std::to_string(static_cast<int>(session["score"].get<double>() * 100 + 0.5)) + "%";
}

// "yes" once grading found tampering, "no" once it found none, else "-".
std::string tampered_text(const json& session) {
  if (!session.contains("tampered") || !session["tampered"].is_boolean()) return "-";
  return session["tampered"].get<bool>() ? "yes" : "no";
}

void print_candidate_message(const json& session, const std::string& password) {
  std::cout << "Session " << text(session["id"]) << " is ready: " << text(session["scenario"]) << " — "
            << text(session["title"]) << "\n\n";
  std::cout << "Send the candidate (" << text(session["candidate"]) << "):\n\n";
  std::cout << "  " << text(session["ssh"]["command"]) << "\n";
  if (!password.empty()) std::cout << "  one-time password:    " << password << "\n";
  if (session["access"]["public_keys"].get<int>() > 0) {
    std::cout << "  log in with:          the public key(s) you gave (" << session["access"]["public_keys"].get<int>()
              << ")\n";
  }
  std::cout << "  host key fingerprint: " << text(session["ssh"]["host_key_fingerprint"]) << "\n";
  std::cout << "  deadline:             " << text(session["deadline"]) << " (" << session["duration_s"].get<int>() / 60
            << " min)\n";
  std::cout << "\nTo pin the host key instead, add to ~/.ssh/known_hosts:\n  " << text(session["ssh"]["known_hosts"]) << "\n";
}

bool is_plan(const json& session) { return session.contains("kind") && session["kind"] == "plan"; }

// A plan's parts: where the candidate is, each part's session and how it went.
std::string parts_table(const json& plan) {
  Table table({"", "PART", "SCENARIO", "BUDGET", "SESSION", "STATE", "TIME LEFT", "SCORE"});
  int index = 0;
  for (const json& part : plan["parts"]) {
    const json& session = part["session"];
    const bool here = plan["mode"] == "sequence" && !plan["ended"].get<bool>() && index == plan["current_part"].get<int>();
    table.add_row({here ? ">" : "", std::to_string(++index) + ". " + text(part["name"]), text(part["scenario"]),
                   std::to_string(part["budget_s"].get<int>() / 60) + "m", session.is_null() ? "-" : text(session["id"]),
                   session.is_null() ? "not started" : text(session["state"]), session.is_null() ? "-" : minutes_left(session),
                   session.is_null() ? "-" : score_text(session)});
  }
  return table.render();
}

void print_plan_candidate_message(const json& plan, const std::string& password) {
  std::cout << "Interview " << text(plan["id"]) << " is ready: " << text(plan["plan"]) << " — " << text(plan["title"])
            << " (" << plan["duration_s"].get<int>() / 60 << " min, parts " << text(plan["mode"]) << ")\n\n"
            << parts_table(plan) << "\nSend the candidate (" << text(plan["candidate"]) << "):\n\n  "
            << text(plan["ssh"]["command"]) << "\n";
  if (!password.empty()) std::cout << "  one-time password:    " << password << "\n";
  std::cout << "  host key fingerprint: " << text(plan["ssh"]["host_key_fingerprint"]) << "\n";
  if (plan["mode"] == "sequence") {
    std::cout << "\nThe next part starts when a part's time is up, when the candidate runs `breakfix-next` in the lab, or\n"
                 "with `breakfix session next "
              << text(plan["id"]) << "`. They log in again the same way for each part.\n";
  }
}

void print_plan(const json& plan) {
  Table table({"FIELD", "VALUE"});
  for (const char* field : {"id", "plan", "title", "mode", "candidate", "state", "created"}) {
    table.add_row({field, text(plan[field])});
  }
  table.add_row({"ended", plan["ended"].get<bool>() ? "yes" : "no"});
  table.add_row({"ssh", text(plan["ssh"]["command"])});
  std::cout << table.render() << "\n" << parts_table(plan);
}

void print_session(const json& session) {
  if (is_plan(session)) return print_plan(session);
  Table table({"FIELD", "VALUE"});
  for (const char* field : {"id", "scenario", "title", "variant", "candidate", "state", "failure", "progress", "entry_host", "created",
                            "ready_at", "deadline", "ended_at", "graded_at", "remove_at"}) {
    if (session.contains(field) && !session[field].is_null()) table.add_row({field, text(session[field])});
  }
  table.add_row({"time_left", minutes_left(session)});
  table.add_row({"score", score_text(session)});
  table.add_row({"tampered", tampered_text(session)});
  if (session.contains("hints") && session["hints"]["total"].get<int>() > 0) {
    table.add_row({"hints", std::to_string(session["hints"]["given"].get<int>()) + " of " +
                                std::to_string(session["hints"]["total"].get<int>()) + " given"});
  }
  std::string hosts;
  for (const json& host : session["hosts"]) hosts += (hosts.empty() ? "" : ", ") + host.get<std::string>();
  table.add_row({"hosts", hosts});
  table.add_row({"seed", text(session["seed"])});
  table.add_row({"ssh", text(session["ssh"]["command"])});
  std::cout << table.render();
}

struct StartOptions {
  std::string scenario;
  std::string candidate;
  std::vector<std::string> key_files;
  bool password = false;
  std::string duration;
  std::optional<std::uint64_t> seed;
  bool no_wait = false;
};

int start(const Connection& connection, const StartOptions& options) {
  json body{{"scenario", options.scenario}, {"candidate", options.candidate}};
  json keys = json::array();
  for (const std::string& file : options.key_files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "breakfix: cannot read --key " << file << "\n";
      return kExitUsage;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
  }
  if (!keys.empty()) body["public_keys"] = keys;
  // Without a key, a one-time password is the only way in.
  body["password"] = options.password || keys.empty();
  if (!options.duration.empty()) body["duration"] = options.duration;
  if (options.seed) body["seed"] = *options.seed;
  Call created = call(connection, "POST", "/v1/sessions", body.dump());
  if (!created.ok()) return created.exit_code;
  const std::string id = created.body["id"];
  const std::string password = created.body["password"].is_null() ? "" : created.body["password"].get<std::string>();
  json session = created.body;
  const bool tty = ::isatty(STDERR_FILENO);
  if (!options.no_wait) {
    std::cerr << "session " << id << ": provisioning " << text(is_plan(session) ? session["plan"] : session["scenario"])
              << std::endl;
    std::string last_line;
    const auto began = std::chrono::steady_clock::now();
    while (session["state"] == "provisioning" || session["state"] == "injecting") {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      Call polled = call(connection, "GET", "/v1/sessions/" + id);
      if (!polled.ok()) return polled.exit_code;
      session = polled.body;
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began);
      std::string line = "session " + id + ": " + text(session["state"]);
      if (!session["progress"].is_null()) line += ": " + text(session["progress"]);
      if (line != last_line) {
        if (tty) std::cerr << "\r\033[K[" << seconds.count() << "s] " << line.substr(0, 150) << std::flush;
        else std::cerr << "[" << seconds.count() << "s] " << line << "\n";
        last_line = line;
      }
    }
    if (tty) std::cerr << "\n";
  }
  if (connection.json_output()) {
    session["password"] = password.empty() ? json(nullptr) : json(password);
    std::cout << session.dump(2) << "\n";
  } else if (session["state"] == "ready" && is_plan(session)) {
    print_plan_candidate_message(session, password);
  } else if (session["state"] == "ready") {
    print_candidate_message(session, password);
  } else if (options.no_wait) {
    std::cout << id << "\n";
    if (!password.empty()) std::cout << "one-time password: " << password << "\n";
  }
  if (session["state"] == "failed") {
    std::cerr << "breakfix: session " << id << " failed: " << text(session["failure"]) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int list(const Connection& connection, bool all) {
  Call listed = call(connection, "GET", std::string("/v1/sessions") + (all ? "?all=1" : ""));
  if (!listed.ok()) return listed.exit_code;
  if (connection.json_output()) {
    std::cout << listed.body.dump(2) << "\n";
    return kExitOk;
  }
  Table table({"ID", "SCENARIO", "CANDIDATE", "STATE", "TIME LEFT", "SCORE", "TAMPERED", "CREATED"});
  for (const json& session : listed.body["sessions"]) {
    table.add_row({text(session["id"]), text(session["scenario"]), text(session["candidate"]), text(session["state"]),
                   minutes_left(session), score_text(session), tampered_text(session), text(session["created"])});
  }
  std::cout << table.render();
  if (listed.body.contains("plans") && !listed.body["plans"].empty()) {
    Table plans({"PLAN SESSION", "PLAN", "CANDIDATE", "STATE", "PART", "CREATED"});
    for (const json& plan : listed.body["plans"]) {
      const int current = plan["current_part"].get<int>();
      plans.add_row({text(plan["id"]), text(plan["plan"]), text(plan["candidate"]), text(plan["state"]),
                     plan["ended"].get<bool>() ? "ended"
                                               : std::to_string(current + 1) + " of " + std::to_string(plan["parts"].size()),
                     text(plan["created"])});
    }
    std::cout << "\n" << plans.render();
  }
  return kExitOk;
}

int show_result(const Connection& connection, const Call& result) {
  if (!result.ok()) return result.exit_code;
  if (connection.json_output()) std::cout << result.body.dump(2) << "\n";
  else print_session(result.body);
  return kExitOk;
}

int grade(const Connection& connection, const std::string& id) {
  Call graded = call(connection, "POST", "/v1/sessions/" + id + "/grade");
  if (!graded.ok()) return graded.exit_code;
  if (connection.json_output()) {
    std::cout << graded.body.dump(2) << "\n";
    return kExitOk;
  }
  Table table({"CHECK", "EXPECT", "RESULT", "EXIT", "TIME"});
  for (const json& check : graded.body["checks"]) {
    table.add_row({text(check["name"]), text(check["expect"]),
                   check["passed"].get<bool>() ? "pass" : (check["timed_out"].get<bool>() ? "timeout" : "FAIL"),
                   text(check["exit_code"]), std::to_string(check["duration_ms"].get<int>()) + "ms"});
  }
  std::cout << table.render() << graded.body["passed"].get<int>() << " of " << graded.body["total"].get<int>()
            << " checks pass\n";
  return kExitOk;
}

}  // namespace

void add_session_client_commands(CLI::App* session, int& exit_code) {
  auto connection = std::make_shared<Connection>();
  auto start_options = std::make_shared<StartOptions>();

  CLI::App* start_command = session->add_subcommand(
      "start", "Start a session and, once it is ready, print what to send the candidate");
  start_command->add_option("scenario", start_options->scenario, "Scenario or plan id (breakfix scenario list)")->required();
  start_command->add_option("--candidate", start_options->candidate, "The candidate's name")->required();
  start_command->add_option("--key", start_options->key_files, "A file of the candidate's public key(s); repeatable")
      ->check(CLI::ExistingFile)
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  start_command->add_flag("--password", start_options->password,
                          "Also give a one-time password (the default when no --key is given)");
  start_command->add_option("--duration", start_options->duration, "Session length, e.g. 90m (default: the scenario's)");
  start_command->add_option("--seed", start_options->seed, "Seed for the scenario's vars (reproduces a session)");
  start_command->add_flag("--no-wait", start_options->no_wait, "Print the id at once; do not wait for ready");
  connection->add_to(start_command, true);
  start_command->callback([connection, start_options, &exit_code] { exit_code = start(*connection, *start_options); });

  auto all = std::make_shared<bool>(false);
  CLI::App* list_command = session->add_subcommand("list", "List sessions");
  list_command->add_flag("-a,--all", *all, "Include removed sessions");
  connection->add_to(list_command, true);
  list_command->callback([connection, all, &exit_code] { exit_code = list(*connection, *all); });

  auto id = std::make_shared<std::string>();
  CLI::App* show_command = session->add_subcommand("show", "Show one session");
  show_command->add_option("id", *id, "Session id")->required();
  connection->add_to(show_command, true);
  show_command->callback(
      [connection, id, &exit_code] { exit_code = show_result(*connection, call(*connection, "GET", "/v1/sessions/" + *id)); });

  auto by = std::make_shared<std::string>();
  CLI::App* extend_command = session->add_subcommand("extend", "Give a ready session more time");
  extend_command->add_option("id", *id, "Session id")->required();
  extend_command->add_option("by", *by, "How much more, e.g. 15m")->required();
  connection->add_to(extend_command, true);
  extend_command->callback([connection, id, by, &exit_code] {
    if (!parse_duration(*by)) throw CLI::ValidationError("by", "not a duration: " + *by + " (e.g. 15m, 1h30m)");
    exit_code = show_result(*connection, call(*connection, "POST", "/v1/sessions/" + *id + "/extend", json{{"by", *by}}.dump()));
  });

  auto hint_number = std::make_shared<int>(0);
  CLI::App* hint_command = session->add_subcommand(
      "hint", "Give the candidate the next hint (or hint N): every open terminal shows it");
  hint_command->add_option("id", *id, "Session id")->required();
  hint_command->add_option("number", *hint_number, "Which hint, from 1 (default: the next not given)")
      ->check(CLI::Range(1, 1000));
  connection->add_to(hint_command, true);
  hint_command->callback([connection, id, hint_number, &exit_code] {
    const json body = *hint_number > 0 ? json{{"number", *hint_number}} : json::object();
    Call given = call(*connection, "POST", "/v1/sessions/" + *id + "/hint", body.dump());
    exit_code = given.exit_code;
    if (!given.ok()) return;
    if (connection->json_output()) {
      std::cout << given.body.dump(2) << "\n";
      return;
    }
    std::cout << "hint " << given.body["number"].get<int>() << " of " << given.body["of"].get<int>() << " given";
    if (given.body["cost"].get<double>() > 0) std::cout << " (costs " << given.body["cost"].get<double>() * 100 << "% of the score)";
    std::cout << ":\n" << given.body["text"].get<std::string>() << "\n";
  });

  auto note_text = std::make_shared<std::string>();
  CLI::App* note_command = session->add_subcommand(
      "note", "Write a note on the session's timeline (during or after it); the report shows it with its time");
  note_command->add_option("id", *id, "Session id")->required();
  note_command->add_option("text", *note_text, "The note (quote it)")->required();
  connection->add_to(note_command, true);
  note_command->callback([connection, id, note_text, &exit_code] {
    Call noted = call(*connection, "POST", "/v1/sessions/" + *id + "/notes", json{{"text", *note_text}}.dump());
    exit_code = noted.exit_code;
    if (!noted.ok()) return;
    if (connection->json_output()) std::cout << noted.body.dump(2) << "\n";
    else std::cout << "noted at " << noted.body["time"].get<std::string>() << "\n";
  });

  auto criterion = std::make_shared<std::string>();
  auto level = std::make_shared<int>(0);
  CLI::App* rate_command = session->add_subcommand(
      "rate", "Rate a criterion of the scenario's rubric (the latest rating counts; never part of the score)");
  rate_command->add_option("id", *id, "Session id")->required();
  rate_command->add_option("criterion", *criterion, "A criterion of the rubric, e.g. method")->required();
  rate_command->add_option("level", *level, "From 1, the lowest")->required()->check(CLI::Range(1, 10));
  connection->add_to(rate_command, true);
  rate_command->callback([connection, id, criterion, level, &exit_code] {
    Call rated = call(*connection, "POST", "/v1/sessions/" + *id + "/ratings",
                      json{{"criterion", *criterion}, {"level", *level}}.dump());
    exit_code = rated.exit_code;
    if (!rated.ok()) return;
    if (connection->json_output()) {
      std::cout << rated.body.dump(2) << "\n";
      return;
    }
    std::cout << rated.body["criterion"].get<std::string>() << ": " << rated.body["level"].get<int>() << " of "
              << rated.body["of"].get<int>() << ", " << rated.body["meaning"].get<std::string>() << "\n";
  });

  CLI::App* end_command = session->add_subcommand("end", "End a session now; grading follows");
  end_command->add_option("id", *id, "Session id")->required();
  connection->add_to(end_command, true);
  end_command->callback([connection, id, &exit_code] {
    exit_code = show_result(*connection, call(*connection, "POST", "/v1/sessions/" + *id + "/end"));
  });

  CLI::App* next_command = session->add_subcommand(
      "next", "Move a plan's session on to its next part (the current part ends and is graded)");
  next_command->add_option("id", *id, "Plan session id")->required();
  connection->add_to(next_command, true);
  next_command->callback([connection, id, &exit_code] {
    exit_code = show_result(*connection, call(*connection, "POST", "/v1/sessions/" + *id + "/next"));
  });

  CLI::App* grade_command = session->add_subcommand("grade", "Run the checks of a ready session now, without ending it");
  grade_command->add_option("id", *id, "Session id")->required();
  connection->add_to(grade_command, true);
  grade_command->callback([connection, id, &exit_code] { exit_code = grade(*connection, *id); });

  auto format = std::make_shared<std::string>("md");
  CLI::App* report_command = session->add_subcommand("report", "Print a graded session's report");
  report_command->add_option("id", *id, "Session id")->required();
  report_command->add_option("--format", *format, "md or json")->check(CLI::IsMember({"md", "json"}))->capture_default_str();
  connection->add_to(report_command, false);
  report_command->callback([connection, id, format, &exit_code] {
    Call report = call(*connection, "GET", "/v1/sessions/" + *id + "/report?format=" + *format);
    if (report.ok()) std::cout << report.raw;
    exit_code = report.exit_code;
  });

  CLI::App* rm_command = session->add_subcommand(
      "rm", "Remove a session's hosts now (a ready session ends without grading)");
  rm_command->add_option("id", *id, "Session id")->required();
  connection->add_to(rm_command, true);
  rm_command->callback([connection, id, &exit_code] {
    exit_code = show_result(*connection, call(*connection, "DELETE", "/v1/sessions/" + *id));
  });
}

}  // namespace breakfix::cli
