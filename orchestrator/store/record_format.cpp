#include "store/record_format.h"

#include <nlohmann/json.hpp>

#include <charconv>

namespace breakfix {
namespace {

using nlohmann::json;


// Parses `text` as a JSON object; Failed saying what `what` is otherwise.
Result<json> object_from(const std::string& text, const char* what) {
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return make_error(ErrorCode::Failed, std::string(what) + " is not a JSON object");
  }
  return parsed;
}

}  // namespace

std::string record_to_json(const SessionRecord& r) {
  json warnings = json::array();
  for (int minutes : r.warned_minutes) warnings.push_back(minutes);
  json policy_warnings = json::array();
  for (auto minutes : r.policy.warnings) policy_warnings.push_back(minutes.count());
  json hints = json::array();
  for (const auto& after : r.policy.hints) hints.push_back(after ? json(after->count()) : json(nullptr));
  return json{{"state", to_string(r.state)},
              {"failure", r.failure},
              {"duration_s", r.policy.duration.count()},
              {"retention_s", r.policy.retention.count()},
              {"progress_interval_s", r.policy.progress_interval.count()},
              {"warnings_min", policy_warnings},
              {"created_ms", unix_ms(r.created)},
              {"ready_at_ms", unix_ms(r.ready_at)},
              {"deadline_ms", unix_ms(r.deadline)},
              {"ended_at_ms", unix_ms(r.ended_at)},
              {"graded_at_ms", unix_ms(r.graded_at)},
              {"remove_at_ms", unix_ms(r.remove_at)},
              {"next_progress_ms", unix_ms(r.next_progress)},
              {"warned_min", warnings},
              {"failed_attempts", r.failed_attempts},
              {"retry_at_ms", unix_ms(r.retry_at)},
              {"last_error", r.last_error},
              {"hints_after_s", hints},
              {"hints_given", r.hints_given},
              {"unchanged", r.unchanged},
              {"pooled", r.policy.pooled},
              {"scenario_digest", r.policy.scenario_digest}}
      .dump();
}

Result<SessionRecord> record_from_json(const std::string& text) {
  auto parsed = object_from(text, "record_json");
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  // The field being read, for the error: json::exception names the problem, not the key.
  std::string field;
  auto at = [&](const char* name) -> const json& {
    field = name;
    return j.at(name);
  };
  try {
    SessionRecord r;
    auto state = session_state_from(at("state").get<std::string>());
    if (!state) return make_error(ErrorCode::Failed, "record_json.state: no such state " + j.at("state").dump());
    r.state = *state;
    r.failure = at("failure").get<std::string>();
    r.policy.duration = std::chrono::seconds(at("duration_s").get<std::int64_t>());
    r.policy.retention = std::chrono::seconds(at("retention_s").get<std::int64_t>());
    r.policy.progress_interval = std::chrono::seconds(at("progress_interval_s").get<std::int64_t>());
    r.policy.warnings.clear();
    for (const json& minutes : at("warnings_min")) r.policy.warnings.emplace_back(minutes.get<int>());
    r.created = from_unix_ms(at("created_ms").get<std::int64_t>());
    r.ready_at = from_unix_ms(at("ready_at_ms").get<std::int64_t>());
    r.deadline = from_unix_ms(at("deadline_ms").get<std::int64_t>());
    r.ended_at = from_unix_ms(at("ended_at_ms").get<std::int64_t>());
    r.graded_at = from_unix_ms(at("graded_at_ms").get<std::int64_t>());
    r.remove_at = from_unix_ms(at("remove_at_ms").get<std::int64_t>());
    r.next_progress = from_unix_ms(at("next_progress_ms").get<std::int64_t>());
    for (const json& minutes : at("warned_min")) r.warned_minutes.insert(minutes.get<int>());
    // Rows written before retries existed have none pending.
    if (j.contains("failed_attempts")) {
      r.failed_attempts = at("failed_attempts").get<int>();
      r.retry_at = from_unix_ms(at("retry_at_ms").get<std::int64_t>());
      r.last_error = at("last_error").get<std::string>();
    }
    // Rows written before hints were given have none.
    if (j.contains("hints_after_s")) {
      for (const json& after : at("hints_after_s")) {
        r.policy.hints.push_back(after.is_null() ? std::nullopt
                                                 : std::optional<std::chrono::seconds>(after.get<std::int64_t>()));
      }
      for (const json& index : at("hints_given")) r.hints_given.insert(index.get<int>());
    }
    if (j.contains("unchanged")) r.unchanged = at("unchanged").get<std::map<std::string, std::string>>();
    // Rows written before the warm pool were never pooled.
    if (j.contains("pooled")) r.policy.pooled = at("pooled").get<bool>();
    if (j.contains("scenario_digest")) r.policy.scenario_digest = at("scenario_digest").get<std::string>();
    return r;
  } catch (const json::exception& error) {
    return make_error(ErrorCode::Failed, "record_json." + field + ": " + error.what());
  }
}

std::string vars_to_json(const VarValues& vars) { return json(vars).dump(); }

Result<VarValues> vars_from_json(const std::string& text) {
  auto parsed = object_from(text, "vars_json");
  if (!parsed) return parsed.error();
  VarValues vars;
  for (const auto& [name, value] : parsed->items()) {
    if (!value.is_string()) return make_error(ErrorCode::Failed, "vars_json." + name + " is not a string");
    vars[name] = value.get<std::string>();
  }
  return vars;
}

std::string access_to_json(const LoginAccess& access) {
  return json{{"keys", access.public_keys}, {"password_hash", access.password_hash}}.dump();
}

Result<LoginAccess> access_from_json(const std::string& text) {
  auto parsed = object_from(text, "access_json");
  if (!parsed) return parsed.error();
  LoginAccess access;
  if (auto keys = parsed->find("keys"); keys != parsed->end()) {
    if (!keys->is_array()) return make_error(ErrorCode::Failed, "access_json.keys is not a list");
    for (const json& key : *keys) {
      if (!key.is_string()) return make_error(ErrorCode::Failed, "access_json.keys holds a value that is not a string");
      access.public_keys.push_back(key.get<std::string>());
    }
  }
  if (auto hash = parsed->find("password_hash"); hash != parsed->end()) {
    if (!hash->is_string()) return make_error(ErrorCode::Failed, "access_json.password_hash is not a string");
    access.password_hash = hash->get<std::string>();
  }
  return access;
}

std::string plan_record_to_json(const PlanSessionRecord& record) {
  json parts = json::array();
  for (const PlanPartRecord& part : record.parts) {
    parts.push_back({{"name", part.name}, {"session", part.session_id}, {"scenario", part.scenario_id},
                     {"budget_s", part.budget.count()}});
  }
  json events = json::array();
  for (const SessionEvent& event : record.events) {
    events.push_back({{"time_ms", unix_ms(event.time)}, {"kind", event.kind}, {"detail", event.detail}});
  }
  return json{{"title", record.title},   {"together", record.together}, {"seed", std::to_string(record.seed)},
              {"current", record.current}, {"ended", record.ended},       {"parts", parts},
              {"events", events}}
      .dump();
}

Result<PlanSessionRecord> plan_record_from_json(const std::string& text) {
  auto parsed = object_from(text, "record_json");
  if (!parsed) return parsed.error();
  std::string field;
  auto at = [&](const json& object, const char* name) -> const json& {
    field = name;
    return object.at(name);
  };
  try {
    PlanSessionRecord record;
    record.title = at(*parsed, "title").get<std::string>();
    record.together = at(*parsed, "together").get<bool>();
    const std::string seed = at(*parsed, "seed").get<std::string>();
    if (std::from_chars(seed.data(), seed.data() + seed.size(), record.seed).ec != std::errc()) {
      return make_error(ErrorCode::Failed, "record_json.seed: not a number: " + seed);
    }
    record.current = at(*parsed, "current").get<int>();
    record.ended = at(*parsed, "ended").get<bool>();
    for (const json& part : at(*parsed, "parts")) {
      record.parts.push_back({at(part, "name").get<std::string>(), at(part, "session").get<std::string>(),
                              at(part, "scenario").get<std::string>(),
                              std::chrono::seconds(at(part, "budget_s").get<std::int64_t>())});
    }
    for (const json& event : at(*parsed, "events")) {
      record.events.push_back({from_unix_ms(at(event, "time_ms").get<std::int64_t>()), at(event, "kind").get<std::string>(),
                               at(event, "detail").get<std::string>()});
    }
    if (record.parts.empty()) return make_error(ErrorCode::Failed, "record_json.parts: a plan session has parts");
    if (record.current < 0 || record.current >= static_cast<int>(record.parts.size())) {
      return make_error(ErrorCode::Failed, "record_json.current: " + std::to_string(record.current) + " is not a part");
    }
    return record;
  } catch (const json::exception& error) {
    return make_error(ErrorCode::Failed, "record_json." + field + ": " + error.what());
  }
}

}  // namespace breakfix
