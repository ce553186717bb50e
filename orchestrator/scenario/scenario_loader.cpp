// The one place that knows the scenario format (docs/scenario-format.md and
// docs/scenario.schema.json describe the same thing for authors and editors).

#include "breakfix/scenario_loader.h"

#include "breakfix/plan.h"

#include <algorithm>
#include <cstdio>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "breakfix/duration.h"
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "scenario/path_glob.h"
#include "scenario/yaml_reader.h"

namespace breakfix {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using yaml::DiagnosticLog;
using yaml::Mapping;
using yaml::Value;

constexpr std::string_view kApiVersion = "breakfix/v1";
constexpr const char* kShorthandHostName = "main";

constexpr seconds kDefaultScriptTimeout{120};  // setup, faults, solution
constexpr seconds kDefaultCheckTimeout{30};
constexpr std::size_t kMaxLibBytes = 64 * 1024;  // one helper file
constexpr seconds kMinSessionDuration{60};
constexpr seconds kMaxSessionDuration{24 * 3600};
constexpr seconds kMaxScriptTimeout{3600};
constexpr seconds kMaxCheckTimeout{600};
constexpr std::int64_t kMaxRangeValues = 10000;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ^[a-z0-9][a-z0-9-]{1,62}$
bool is_valid_id(std::string_view id) {
  return id.size() >= 2 && id.size() <= 63 && is_lower_alnum(id[0]) &&
         std::all_of(id.begin(), id.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

// ^[A-Z_][A-Z0-9_]{0,63}$, the names a shell exports without fuss.
bool is_valid_var_name(std::string_view name) {
  auto upper = [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; };
  return !name.empty() && name.size() <= 64 && upper(name[0]) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return upper(c) || (c >= '0' && c <= '9'); });
}

// ^[a-z_][a-z0-9_-]{0,31}$, what useradd accepts by default.
bool is_valid_user_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 && ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') &&
         std::all_of(name.begin(), name.end(), [](char c) { return is_lower_alnum(c) || c == '_' || c == '-'; });
}

// A loose check of an image reference: the engine has the last word, this catches typos
// such as spaces or upper case in the repository part.
bool is_plausible_image(std::string_view image) {
  if (image.size() > 255 || !std::isalnum(static_cast<unsigned char>(image[0]))) return false;
  const std::size_t last_slash = image.rfind('/');
  const std::size_t tag_colon = image.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  for (std::size_t i = 0; i < image.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(image[i]);
    if (std::isspace(c) || std::iscntrl(c) || c >= 0x80) return false;
    if (std::isupper(c) && i < tag_colon && i > image.find('/')) return false;
  }
  return true;
}

// "512Mi", "1Gi", "1.5G", "300M", "1048576" (bytes). Binary and decimal suffixes.
std::optional<std::int64_t> parse_memory(std::string_view text) {
  double amount = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), amount);
  if (ec != std::errc() || end == text.data() || !std::isfinite(amount) || amount < 0) return std::nullopt;
  const std::string_view suffix(end, text.data() + text.size() - end);
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},           {"k", 1e3},        {"K", 1e3},        {"M", 1e6},
      {"G", 1e9},        {"Ki", 1024.0},    {"Mi", 1048576.0}, {"Gi", 1073741824.0},
  };
  for (const auto& [unit, factor] : kUnits) {
    if (suffix == unit) {
      const double bytes = amount * factor;
      if (bytes > 1e15) return std::nullopt;
      return static_cast<std::int64_t>(bytes);
    }
  }
  return std::nullopt;
}


// Scripts run under `bash -e`, which does not stop at a failing `! cmd`: a negated
// command that is not the script's last has no effect on its result, so a check written
// `! grep secret file` on its first line passes whatever grep finds. The 1-based lines
// of such commands.
std::vector<int> ineffective_negations(std::string_view script) {
  std::vector<std::pair<int, std::string_view>> lines;  // the script's commands: (line, text)
  int number = 0;
  for (std::size_t start = 0; start <= script.size();) {
    std::size_t end = script.find('\n', start);
    if (end == std::string_view::npos) end = script.size();
    std::string_view line = script.substr(start, end - start);
    ++number;
    const std::size_t first = line.find_first_not_of(" \t");
    if (first != std::string_view::npos && line[first] != '#') lines.emplace_back(number, line.substr(first));
    start = end + 1;
  }
  std::vector<int> found;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].second.rfind("! ", 0) == 0) found.push_back(lines[i].first);
  }
  return found;
}

// The longest `sleep N` (s, m, h) a script asks for, in seconds; 0 when none.
double longest_sleep(std::string_view script) {
  double longest = 0;
  for (std::size_t at = script.find("sleep"); at != std::string_view::npos; at = script.find("sleep", at + 5)) {
    const bool starts_word = at == 0 || std::string_view(" \t\n;&|(").find(script[at - 1]) != std::string_view::npos;
    std::size_t p = at + 5;
    if (!starts_word || p >= script.size() || (script[p] != ' ' && script[p] != '\t')) continue;
    while (p < script.size() && (script[p] == ' ' || script[p] == '\t')) ++p;
    double value = 0;
    auto [end, ec] = std::from_chars(script.data() + p, script.data() + script.size(), value);
    if (ec != std::errc()) continue;
    const char unit = end < script.data() + script.size() ? *end : ' ';
    longest = std::max(longest, value * (unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 1));
  }
  return longest;
}

// `path` is `dir` or below it; both already canonical.
bool is_inside(const fs::path& path, const fs::path& dir) {
  auto p = path.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
    if (d->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *d) return false;
  }
  return true;
}

bool script_mentions_var(std::string_view script, std::string_view name) {
  for (std::size_t at = script.find(name); at != std::string_view::npos; at = script.find(name, at + 1)) {
    const std::size_t after = at + name.size();
    const bool ends_name = after == script.size() ||
                           !(std::isalnum(static_cast<unsigned char>(script[after])) || script[after] == '_');
    if (!ends_name) continue;
    if (at >= 1 && script[at - 1] == '$') return true;
    if (at >= 2 && script.substr(at - 2, 2) == "${") return true;
  }
  return false;
}


std::optional<std::string> read_unique_name(const Mapping& map, std::set<std::string>& seen, const char* what) {
  auto value = map.required("name");
  if (!value) return std::nullopt;
  auto name = value->as_string();
  if (!name) return std::nullopt;
  if (!seen.insert(*name).second) {
    value->error("duplicate " + std::string(what) + " name '" + *name + "'");
    return std::nullopt;
  }
  return name;
}

// rubric: [{name, description, levels: [level 1, level 2, ...]}]: what the interviewer
// rates. A scale needs at least two levels to mean anything, and more than ten is not a
// scale two interviewers would use alike.
void read_rubric_list(const Mapping& root, std::vector<RubricCriterion>& rubric) {
  auto value = root.get("rubric");
  if (!value) return;
  auto items = value->as_nonempty_list("criterion");
  if (!items) return;
  std::set<std::string> names;
  for (const Value& item : *items) {
    auto map = item.as_record({"name", "description", "levels"});
    if (!map) continue;
    RubricCriterion criterion;
    auto name = read_unique_name(*map, names, "criterion");
    if (name && !is_valid_id(*name)) {
      map->get("name")->error("'" + *name + "' is not a valid criterion name (2 to 63 of a-z, 0-9 and '-')");
      name.reset();
    }
    bool ok = name.has_value();
    if (auto description = map->get("description")) {
      auto text = description->as_text();
      ok = ok && text.has_value();
      if (text) criterion.description = *text;
    }
    auto levels = map->required("levels");
    auto list = levels ? levels->as_list() : std::nullopt;
    if (list && (list->size() < 2 || list->size() > 10)) {
      levels->error("has " + std::to_string(list->size()) + " level(s); a scale has 2 to 10, lowest first");
      list.reset();
    }
    ok = ok && list.has_value();
    for (const Value& level : list ? *list : std::vector<Value>{}) {
      auto text = level.as_text();
      if (text) criterion.levels.push_back(*text);
      else ok = false;
    }
    if (ok) {
      criterion.name = *name;
      rubric.push_back(std::move(criterion));
    }
  }
}

// apiVersion, id and title: what every document of the library starts with.
void read_identity(const Mapping& root, std::string& id, SourcePosition& id_position, std::string& title) {
  if (auto value = root.required("apiVersion")) {
    if (auto text = value->as_string(); text && *text != kApiVersion) {
      value->error("unsupported apiVersion '" + *text + "' (this breakfix reads " + std::string(kApiVersion) + ")");
    }
  }
  if (auto value = root.required("id")) {
    id_position = value->position();
    if (auto text = value->as_string()) {
      if (is_valid_id(*text)) {
        id = *text;
      } else {
        value->error("'" + *text + "' is not a valid id (2 to 63 of a-z, 0-9 and '-', not starting with '-')");
      }
    }
  }
  if (auto value = root.required("title")) {
    if (auto text = value->as_string()) {
      if (text->find('\n') != std::string::npos) value->error("must be a single line");
      else if (text->size() > 120) value->error("is " + std::to_string(text->size()) + " characters long; keep it within 120");
      else title = *text;
    }
  }
}

// Builds a Plan from a document root; the parts' scenarios are checked by the catalog,
// which knows the library.
class PlanParser {
 public:
  PlanPtr parse(const Value& root_value) {
    auto root = root_value.as_record({"apiVersion", "id", "title", "kind", "description", "mode", "parts", "rubric"});
    if (!root) return nullptr;
    auto plan = std::make_shared<Plan>();
    read_identity(*root, plan->id, plan->id_position, plan->title);
    if (auto value = root->required("kind")) {
      if (auto kind = value->as_string(); kind && *kind != "plan") {
        value->error("a plan.yaml has 'kind: plan' (a scenario, kind '" + *kind + "', goes in scenario.yaml)");
      }
    }
    if (auto value = root->required("description")) {
      if (auto text = value->as_text()) plan->description = *text;
    }
    if (auto value = root->get("mode")) {
      if (auto mode = value->as_enum<PlanMode>({{"sequence", PlanMode::Sequence}, {"together", PlanMode::Together}})) {
        plan->mode = *mode;
      }
    }
    read_parts(*root, *plan);
    read_rubric_list(*root, plan->rubric);
    return plan;
  }

 private:
  // parts: [{name, scenario, duration}]: at least two (one part is a scenario), in order.
  void read_parts(const Mapping& root, Plan& plan) {
    auto value = root.required("parts");
    if (!value) return;
    auto items = value->as_list();
    if (!items) return;
    if (items->size() < 2) {
      value->error("has " + std::to_string(items->size()) + " part(s); a plan has at least two (one part is a scenario: start it alone)");
    }
    std::set<std::string> names;
    seconds total{0};
    for (const Value& item : *items) {
      auto map = item.as_record({"name", "scenario", "duration"});
      if (!map) continue;
      PlanPart part;
      auto name = read_unique_name(*map, names, "part");
      if (name && !is_valid_id(*name)) {
        map->get("name")->error("'" + *name + "' is not a valid part name (2 to 63 of a-z, 0-9 and '-')");
        name.reset();
      }
      bool ok = name.has_value();
      auto scenario = map->required("scenario");
      auto id = scenario ? scenario->as_string() : std::nullopt;
      if (id && !is_valid_id(*id)) {
        scenario->error("'" + *id + "' is not a scenario id");
        id.reset();
      }
      ok = ok && id.has_value();
      auto duration_value = map->required("duration");
      auto duration = duration_value ? duration_value->as_duration() : std::nullopt;
      if (duration && (*duration < kMinSessionDuration || *duration > kMaxSessionDuration)) {
        duration_value->error("must be between 1m and 24h (got " + format_duration(*duration) + ")");
        duration.reset();
      }
      ok = ok && duration.has_value();
      if (!ok) continue;
      part.name = *name;
      part.scenario_id = *id;
      part.scenario_position = scenario->position();
      part.duration = *duration;
      total += *duration;
      plan.parts.push_back(std::move(part));
    }
    if (total > kMaxSessionDuration) {
      value->error("the parts add up to " + format_duration(total) + "; a session lasts at most 24h");
    }
  }
};

// Builds a Scenario from a document root, logging every problem it meets and going on
// past each one, so that an author sees all the errors of a file at once.
class ScenarioParser {
 public:
  ScenarioParser(DiagnosticLog& log, fs::path scenario_dir) : log_(log), scenario_dir_(std::move(scenario_dir)) {}

  ScenarioPtr parse(const Value& root_value) {
    auto root = root_value.as_record({"apiVersion", "id", "title", "kind", "difficulty", "duration", "tags",
                                      "description", "vars", "hosts", "image", "build", "user", "workdir", "init",
                                      "resources", "tmpfs", "capabilities", "setup", "network", "faults", "checks", "solution",
                                      "hints", "expected_changes", "unchanged", "shortcuts", "alternatives", "lib", "variants", "rubric", "reply"});
    if (!root) return nullptr;
    if (root->entries().empty()) {
      root->error("the file has no scenario in it; it should start with 'apiVersion: breakfix/v1'");
      return nullptr;
    }
    auto scenario = std::make_shared<Scenario>();
    read_header(*root, *scenario);
    read_vars(*root, *scenario);
    read_hosts(*root, *scenario);
    read_network(*root, *scenario);
    read_faults(*root, *scenario);
    read_checks(*root, *scenario);
    read_solution(*root, *scenario);
    read_hints(*root, *scenario);
    read_attempts(*root, "shortcuts", *scenario, scenario->shortcuts);
    read_attempts(*root, "alternatives", *scenario, scenario->alternatives);
    read_variants(*root, *scenario);
    read_rubric(*root, *scenario);
    read_reply(*root, *scenario);
    read_lib(*root, *scenario);
    if (log_.has_errors()) return nullptr;
    // Only now: a script that failed to load may well be the one using the variable.
    warn_unused_vars(*root, *scenario);
    return scenario;
  }

 private:
  void read_header(const Mapping& root, Scenario& scenario) {
    read_identity(root, scenario.id, scenario.id_position, scenario.title);
    if (auto value = root.required("kind")) {
      if (auto kind = value->as_enum<ScenarioKind>({{"break-fix", ScenarioKind::BreakFix}, {"bug-fix", ScenarioKind::BugFix}, {"customer", ScenarioKind::Customer}})) {
        scenario.kind = *kind;
      }
    }
    if (auto value = root.get("difficulty")) {
      if (auto difficulty = value->as_enum<Difficulty>(
              {{"easy", Difficulty::Easy}, {"medium", Difficulty::Medium}, {"hard", Difficulty::Hard}})) {
        scenario.difficulty = *difficulty;
      }
    }
    if (auto value = root.get("duration")) {
      if (auto duration = value->as_duration()) {
        if (*duration < kMinSessionDuration || *duration > kMaxSessionDuration) {
          value->error("must be between 1m and 24h (got " + format_duration(*duration) + ")");
        } else {
          scenario.duration = *duration;
        }
      }
    }
    if (auto value = root.get("tags")) {
      if (auto items = value->as_list()) {
        std::set<std::string> seen;
        for (const Value& item : *items) {
          auto tag = item.as_string();
          if (!tag) continue;
          if (!seen.insert(*tag).second) item.error("duplicate tag '" + *tag + "'");
          else scenario.tags.push_back(*tag);
        }
      }
    }
    if (auto value = root.required("description")) {
      if (auto text = value->as_text()) scenario.description = *text;
    }
  }

  void read_vars(const Mapping& root, Scenario& scenario) {
    auto value = root.get("vars");
    if (!value) return;
    auto vars = value->as_map();
    if (!vars) return;
    for (const Mapping::Entry& entry : vars->entries()) {
      const Value& spec_value = entry.value;
      if (!is_valid_var_name(entry.key)) {
        spec_value.error("'" + entry.key + "' is not a valid variable name (upper case letters, digits and '_')");
        continue;
      }
      if (entry.key.rfind("BREAKFIX_", 0) == 0) {
        spec_value.error("names starting with BREAKFIX_ are reserved for breakfix");
        continue;
      }
      auto spec = spec_value.as_record({"choice", "range"});
      if (!spec) continue;
      Var var{entry.key, {}};
      auto choice = spec->get("choice");
      auto range = spec->get("range");
      if (choice.has_value() == range.has_value()) {
        spec->error("give exactly one of 'choice' (a list of values) or 'range' ([lowest, highest])");
        continue;
      }
      if (choice) read_choice(*choice, var);
      if (range) read_range(*range, var);
      if (!var.choices.empty()) scenario.vars.push_back(std::move(var));
    }
  }

  void read_choice(const Value& value, Var& var) {
    auto items = value.as_nonempty_list("value");
    if (!items) return;
    std::vector<std::string> choices;
    for (const Value& item : *items) {
      if (auto text = item.as_string()) {
        if (std::find(choices.begin(), choices.end(), *text) != choices.end()) {
          item.error("duplicate value '" + *text + "'");
        }
        choices.push_back(*text);
      }
    }
    if (choices.size() == items->size()) var.choices = std::move(choices);
  }

  void read_range(const Value& value, Var& var) {
    auto items = value.as_list();
    if (!items) return;
    if (items->size() != 2) {
      value.error("expected [lowest, highest]");
      return;
    }
    auto low = (*items)[0].as_integer();
    auto high = (*items)[1].as_integer();
    if (!low || !high) return;
    if (*low > *high) {
      value.error("lowest (" + std::to_string(*low) + ") is above highest (" + std::to_string(*high) + ")");
      return;
    }
    if (*high - *low >= kMaxRangeValues) {
      value.error("spans more than " + std::to_string(kMaxRangeValues) + " values");
      return;
    }
    for (std::int64_t number = *low; number <= *high; ++number) var.choices.push_back(std::to_string(number));
  }

  void read_hosts(const Mapping& root, Scenario& scenario) {
    static constexpr std::string_view kShorthandKeys[] = {"image",        "build", "user",  "workdir",          "init",
                                                          "resources",    "tmpfs", "setup", "expected_changes", "unchanged",
                                                          "capabilities"};
    auto hosts_value = root.get("hosts");
    if (!hosts_value) {
      if (!root.has("image") && !root.has("build")) {
        root.error("missing required key 'hosts' (or 'image' or 'build' for a single host)");
        hosts_complete_ = false;
        return;
      }
      Host host = read_host(root, kShorthandHostName);
      host.entry = true;
      scenario.hosts.push_back(std::move(host));
      return;
    }
    for (auto key : kShorthandKeys) {
      if (root.has(key)) {
        root.key_error(key, "'" + std::string(key) + "' at the top level is shorthand for a single host; "
                            "with 'hosts:' write it under the host");
      }
    }
    auto items = hosts_value->as_nonempty_list("host");
    if (!items) {
      hosts_complete_ = false;
      return;
    }
    std::vector<Value> entry_true;   // hosts that wrote `entry: true`
    std::vector<Value> entry_false;  // and `entry: false`
    for (const Value& item : *items) {
      auto host_map = item.as_record({"name", "image", "build", "entry", "user", "workdir", "init", "resources",
                                      "tmpfs", "capabilities", "setup", "expected_changes", "unchanged"});
      if (!host_map) {
        hosts_complete_ = false;
        continue;
      }
      std::string name;
      if (auto name_value = host_map->required("name")) {
        if (auto text = name_value->as_string()) {
          if (!is_valid_host_name(*text)) {
            name_value->error("'" + *text + "' is not a valid host name (a-z first, then up to 30 of a-z, 0-9 and '-')");
          } else if (scenario.find_host(*text)) {
            name_value->error("duplicate host name '" + *text + "'");
          } else {
            name = *text;
          }
        }
      }
      if (name.empty()) {
        hosts_complete_ = false;
        continue;
      }
      Host host = read_host(*host_map, name);
      if (auto entry = host_map->get("entry")) {
        if (auto flag = entry->as_bool()) {
          host.entry = *flag;
          (*flag ? entry_true : entry_false).push_back(*entry);
        }
      }
      scenario.hosts.push_back(std::move(host));
    }
    if (!hosts_complete_) return;
    if (scenario.hosts.size() == 1) {
      if (!entry_false.empty()) entry_false.front().error("the only host is where the candidate lands; remove 'entry: false'");
      scenario.hosts.front().entry = true;
    } else if (entry_true.empty()) {
      hosts_value->error("several hosts and none has 'entry: true'; mark the one the candidate lands on");
    } else {
      for (std::size_t i = 1; i < entry_true.size(); ++i) {
        entry_true[i].error("more than one host has 'entry: true'; the candidate lands on exactly one");
      }
    }
  }

  // The keys shared by a host under `hosts:` and the single-host shorthand at the top.
  Host read_host(const Mapping& map, const std::string& name) {
    Host host;
    host.name = name;
    auto image = map.get("image");
    auto build = map.get("build");
    if (image && build) {
      map.key_error("build", "give either 'image' or 'build', not both");
    } else if (!image && !build) {
      map.error("missing 'image' (an existing image) or 'build' (a directory with a Dockerfile)");
    } else if (image) {
      if (auto text = image->as_string()) {
        if (is_plausible_image(*text)) host.image = *text;
        else image->error("'" + *text + "' is not a valid image reference");
      }
    } else if (auto text = build->as_string()) {
      const fs::path relative(*text);
      std::error_code ec;
      if (relative.is_absolute()) {
        build->error("must be relative to the scenario directory, got '" + *text + "'");
      } else if (const fs::path dir = (scenario_dir_ / relative).lexically_normal(); !fs::is_directory(dir, ec)) {
        build->error("directory '" + *text + "' does not exist (looked in " + dir.string() + ")");
      } else if (!fs::is_regular_file(dir / "Dockerfile", ec)) {
        build->error("directory '" + *text + "' has no Dockerfile");
      } else if (!is_inside(fs::weakly_canonical(dir, ec), fs::weakly_canonical(scenario_dir_, ec))) {
        // The build context is sent to the engine whole: a scenario that could name any
        // directory (by '..' or a symlink) could send the machine's files into an image
        // its candidate reads. Outside its own directory it is not self-contained either.
        build->error("'" + *text + "' leads outside the scenario directory (to " + fs::weakly_canonical(dir, ec).string() +
                     "); a scenario builds only from its own directory");
      } else {
        host.build_context = fs::absolute(dir, ec);
      }
    }
    if (auto value = map.get("user")) {
      if (auto text = value->as_string()) {
        if (is_valid_user_name(*text)) host.user = *text;
        else value->error("'" + *text + "' is not a valid user name");
      }
    }
    host.workdir = host.user == "root" ? "/root" : "/home/" + host.user;
    if (auto value = map.get("workdir")) {
      if (auto text = value->as_string()) {
        if (text->front() == '/') host.workdir = *text;
        else value->error("must be an absolute path, got '" + *text + "'");
      }
    }
    if (auto value = map.get("init")) {
      if (auto init = value->as_enum<HostInit>({{"default", HostInit::Default}, {"systemd", HostInit::Systemd}})) {
        host.init = *init;
      }
    }
    if (auto value = map.get("resources")) read_resources(*value, host.resources);
    if (auto value = map.get("tmpfs")) read_tmpfs(*value, host);
    if (auto value = map.get("capabilities")) read_capabilities(*value, host);
    if (auto value = map.get("setup")) {
      if (auto text = value->as_text()) host.setup = Script{*text, value->position(), kDefaultScriptTimeout, nullptr};
    }
    if (auto value = map.get("expected_changes")) read_expected_changes(*value, host);
    if (auto value = map.get("unchanged")) read_unchanged(*value, host);
    return host;
  }

  // unchanged: [/abs/path, ...]: no quote, newline or glob in a path (it is written into
  // a shell command), not '/' itself.
  void read_unchanged(const Value& value, Host& host) {
    auto items = value.as_nonempty_list("path");
    if (!items) return;
    for (const Value& item : *items) {
      auto path = item.as_string();
      if (!path) continue;
      const std::string normal = fs::path(*path).lexically_normal().string();
      if (path->empty() || (*path)[0] != '/') {
        item.error("must be an absolute path, got '" + *path + "'");
      } else if (normal == "/" || path->find_first_of("'\"\\\n*?[$`") != std::string::npos) {
        item.error("'" + *path + "' cannot be kept unchanged (not '/', and no quotes, globs or newlines)");
      } else if (std::find(host.unchanged.begin(), host.unchanged.end(), normal) != host.unchanged.end()) {
        item.error("duplicate path '" + *path + "'");
      } else {
        host.unchanged.push_back(normal);
      }
    }
  }

  // capabilities: [SYS_PTRACE, ...], beyond the set every host has; only those of
  // kGrantableCapabilities, each of which stays inside the host (docs/security.md).
  void read_capabilities(const Value& value, Host& host) {
    auto items = value.as_list();
    if (!items) return;
    for (const Value& item : *items) {
      auto text = item.as_string();
      if (!text) continue;
      std::string name = *text;
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (name.rfind("CAP_", 0) == 0) name.erase(0, 4);
      const auto& grantable = grantable_capabilities();
      if (std::find(grantable.begin(), grantable.end(), name) == grantable.end()) {
        std::string allowed;
        for (const std::string& cap : grantable) allowed += (allowed.empty() ? "" : ", ") + cap;
        item.error("'" + *text + "' cannot be granted to a lab host (it could reach beyond the host or stop the "
                   "grader); grantable: " + allowed);
      } else if (std::find(host.capabilities.begin(), host.capabilities.end(), name) != host.capabilities.end()) {
        item.error("duplicate capability '" + name + "'");
      } else {
        host.capabilities.push_back(name);
      }
    }
  }

  void read_expected_changes(const Value& value, Host& host) {
    auto items = value.as_list();
    if (!items) return;
    for (const Value& item : *items) {
      auto pattern = item.as_string();
      if (!pattern) continue;
      if (std::string problem = path_glob_problem(*pattern); !problem.empty()) {
        item.error(problem);
      } else if (std::find(host.expected_changes.begin(), host.expected_changes.end(), *pattern) !=
                 host.expected_changes.end()) {
        item.error("duplicate pattern '" + *pattern + "'");
      } else {
        host.expected_changes.push_back(*pattern);
      }
    }
  }

  void read_resources(const Value& value, Resources& resources) {
    auto map = value.as_record({"cpus", "memory", "pids"});
    if (!map) return;
    if (auto cpus = map->get("cpus")) {
      if (auto number = cpus->as_number()) {
        if (*number <= 0 || *number > 64) cpus->error("must be above 0 and at most 64");
        else resources.cpus = *number;
      }
    }
    if (auto memory = map->get("memory")) {
      if (auto text = memory->as_string()) {
        auto bytes = parse_memory(*text);
        if (!bytes) memory->error("'" + *text + "' is not a size (write it as 512Mi, 1Gi or 800M)");
        else if (*bytes < 6 * 1024 * 1024) memory->error("must be at least 6Mi, the engine's smallest limit");
        else if (*bytes > 64LL * 1024 * 1024 * 1024) memory->error("must be at most 64Gi");
        else resources.memory_bytes = *bytes;
      }
    }
    if (auto pids = map->get("pids")) {
      if (auto number = pids->as_integer()) {
        if (*number < 16 || *number > 65536) pids->error("must be between 16 and 65536");
        else resources.pids = *number;
      }
    }
  }

  // tmpfs: [{path, size, inodes, mode}]. Checked against the host's memory, which its
  // pages count against: a tmpfs larger than that could never be filled, only crash the host.
  void read_tmpfs(const Value& value, Host& host) {
    auto items = value.as_list();
    if (!items) return;
    std::int64_t total = 0;
    for (const Value& item : *items) {
      auto map = item.as_record({"path", "size", "inodes", "mode"});
      if (!map) continue;
      Tmpfs mount;
      bool ok = true;
      if (auto path = map->required("path")) {
        if (auto text = path->as_string()) {
          std::string normal = fs::path(*text).lexically_normal().string();
          if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
          const bool system = normal == "/proc" || normal.rfind("/proc/", 0) == 0 || normal == "/sys" ||
                              normal.rfind("/sys/", 0) == 0 || normal == "/dev" || normal.rfind("/dev/", 0) == 0;
          if (text->empty() || text->front() != '/') {
            path->error("must be an absolute path, got '" + *text + "'");
            ok = false;
          } else if (normal == "/" || system) {
            path->error("'" + *text + "' cannot be a tmpfs (the root, /proc, /sys and /dev belong to the engine)");
            ok = false;
          } else if (std::any_of(host.tmpfs.begin(), host.tmpfs.end(), [&](const Tmpfs& t) { return t.path == normal; })) {
            path->error("duplicate tmpfs path '" + normal + "'");
            ok = false;
          } else {
            mount.path = normal;
          }
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
      if (auto size = map->required("size")) {
        if (auto text = size->as_string()) {
          auto bytes = parse_memory(*text);
          if (!bytes) size->error("'" + *text + "' is not a size (write it as 64Mi or 1Gi)");
          else if (*bytes < 1024 * 1024) size->error("must be at least 1Mi");
          else if (*bytes > host.resources.memory_bytes) {
            size->error("is larger than the host's memory (" + std::to_string(host.resources.memory_bytes >> 20) +
                        "Mi), which a tmpfs's pages count against; raise resources.memory");
          } else {
            mount.size_bytes = *bytes;
            total += *bytes;
          }
        }
      }
      if (mount.size_bytes == 0) ok = false;
      if (auto inodes = map->get("inodes")) {
        if (auto number = inodes->as_integer()) {
          if (*number < 16 || *number > 100'000'000) inodes->error("must be between 16 and 100000000");
          else mount.inodes = *number;
        }
      }
      if (auto mode = map->get("mode")) {
        if (auto text = mode->as_string()) {
          const bool octal = text->size() >= 3 && text->size() <= 4 &&
                             text->find_first_not_of("01234567") == std::string::npos;
          if (octal) mount.mode = static_cast<std::uint32_t>(std::stoul(*text, nullptr, 8));
          else mode->error("must be 3 or 4 octal digits such as \"1777\" or \"0750\", got '" + *text + "'");
        }
      }
      if (ok) host.tmpfs.push_back(std::move(mount));
    }
    if (total > host.resources.memory_bytes) {
      value.error("the tmpfs sizes add up to " + std::to_string(total >> 20) + "Mi, more than the host's memory (" +
                  std::to_string(host.resources.memory_bytes >> 20) + "Mi) that their pages count against");
    }
  }

  void read_network(const Mapping& root, Scenario& scenario) {
    scenario.network = scenario.hosts.size() > 1 ? NetworkMode::Internal : NetworkMode::None;
    auto value = root.get("network");
    if (!value) return;
    auto mode = value->as_enum<NetworkMode>(
        {{"none", NetworkMode::None}, {"internal", NetworkMode::Internal}, {"outside", NetworkMode::Outside}});
    if (!mode) return;
    scenario.network = *mode;
    if (*mode == NetworkMode::None && scenario.hosts.size() > 1) {
      value->warning("with 'none' the " + std::to_string(scenario.hosts.size()) + " hosts cannot reach each other");
    }
  }

  // The host a fault, check or solution step runs on: named, or implied when there is one.
  std::optional<std::string> read_host_ref(const Mapping& map, const Scenario& scenario) {
    auto value = map.get("host");
    if (!value) {
      if (scenario.hosts.size() == 1) return scenario.hosts.front().name;
      if (hosts_complete_) map.error("missing required key 'host' (the scenario has several hosts: " + host_names(scenario) + ")");
      return std::nullopt;
    }
    auto name = value->as_string();
    if (!name) return std::nullopt;
    if (scenario.find_host(*name)) return name;
    if (hosts_complete_) {
      std::vector<std::string_view> known;
      for (const Host& host : scenario.hosts) known.push_back(host.name);
      std::string message = "unknown host '" + *name + "' (hosts: " + host_names(scenario) + ")";
      if (auto near = yaml::nearest_word(*name, known)) message = "unknown host '" + *name + "' (did you mean '" + *near + "'?)";
      value->error(message);
    }
    return std::nullopt;
  }

  static std::string host_names(const Scenario& scenario) {
    std::string names;
    for (const Host& host : scenario.hosts) names += (names.empty() ? "" : ", ") + host.name;
    return names;
  }

  std::optional<Script> read_run(const Mapping& map, seconds default_timeout, seconds max_timeout) {
    std::optional<Script> script;
    if (auto run = map.required("run")) {
      if (auto text = run->as_text()) {
        script = Script{*text, run->position(), default_timeout, nullptr};
        for (int line : ineffective_negations(*text)) {
          run->warning("line " + std::to_string(line) + " of the script: a '!' command that is not the last " +
                       "has no effect under bash -e; write 'if cmd; then exit 1; fi'");
        }
      }
    }
    if (auto value = map.get("timeout")) {
      if (auto timeout = value->as_duration()) {
        if (timeout->count() < 1 || *timeout > max_timeout) {
          value->error("must be between 1s and " + format_duration(max_timeout));
        } else if (script) {
          script->timeout = *timeout;
        }
      }
    }
    return script;
  }

  // A required, unique `name:` of a fault or check.
  void read_faults(const Mapping& root, Scenario& scenario) {
    auto value = root.get("faults");
    std::optional<std::vector<Value>> items;
    if (value) items = value->as_list();
    if (value && !items) return;
    // With variants, each variant may bring its own (read_variants checks that one does).
    if ((!items || items->empty()) && scenario.kind == ScenarioKind::BreakFix && !root.has("variants")) {
      log_.add(Severity::Error, value ? value->mark() : root.mark(),
               "a break-fix scenario needs at least one fault under 'faults:'");
      return;
    }
    if (!items) return;
    std::set<std::string> names;
    for (const Value& item : *items) {
      auto map = item.as_record({"name", "host", "run", "timeout"});
      if (!map) continue;
      auto name = read_unique_name(*map, names, "fault");
      auto host = read_host_ref(*map, scenario);
      auto run = read_run(*map, kDefaultScriptTimeout, kMaxScriptTimeout);
      if (name && host && run) scenario.faults.push_back({*name, *host, *run});
    }
  }

  void read_checks(const Mapping& root, Scenario& scenario) {
    auto value = root.required("checks");
    if (!value) return;
    auto items = value->as_nonempty_list("check");
    if (!items) return;
    std::set<std::string> names;
    bool all_read = true;
    for (const Value& item : *items) {
      auto map = item.as_record(
          {"name", "host", "weight", "timeout", "expect", "serial", "progress", "critical", "cap", "requires", "run"});
      if (!map) {
        all_read = false;
        continue;
      }
      Check check;
      auto name = read_unique_name(*map, names, "check");
      auto host = read_host_ref(*map, scenario);
      auto run = read_run(*map, kDefaultCheckTimeout, kMaxCheckTimeout);
      bool ok = name && host && run;
      if (run && longest_sleep(run->text) > 5) {
        map->get("run")->warning("sleeps " + weight_text(longest_sleep(run->text)) +
                                 " s: every progress run and the grading wait for it; poll for the state instead");
      }
      if (auto weight = map->get("weight")) {
        if (auto number = weight->as_number(); !number) {
          ok = false;
        } else if (*number <= 0 || *number > 1000) {
          weight->error("must be greater than 0 and at most 1000 (got " + weight_text(*number) + ")");
          ok = false;
        } else {
          check.weight = *number;
        }
      }
      if (auto expect = map->get("expect")) {
        auto expectation =
            expect->as_enum<CheckExpectation>({{"fix", CheckExpectation::Fix}, {"guard", CheckExpectation::Guard}});
        if (expectation) check.expect = *expectation;
        else ok = false;
      }
      if (auto serial = map->get("serial")) {
        if (auto flag = serial->as_bool()) check.serial = *flag;
        else ok = false;
      }
      if (auto progress = map->get("progress")) {
        if (auto flag = progress->as_bool()) check.progress = *flag;
        else ok = false;
      }
      ok = read_guard_rules(*map, check) && ok;
      if (!ok) {
        all_read = false;
        continue;
      }
      check.name = *name;
      check.host = *host;
      check.run = *run;
      scenario.checks.push_back(std::move(check));
    }
    const bool any_fix = std::any_of(scenario.checks.begin(), scenario.checks.end(),
                                     [](const Check& check) { return check.expect == CheckExpectation::Fix; });
    if (all_read && !any_fix) {
      value->error("needs at least one check with 'expect: fix' (guards alone would grade an untouched lab 100%)");
    }
    if (all_read) check_required_fixes(*items, scenario);
    if (all_read) add_unchanged_guards(*value, scenario);
  }

  // A critical guard a host with `unchanged:` paths, so that the author need not paste
  // hashes into a check of their own.
  void add_unchanged_guards(const Value& checks_value, Scenario& scenario) {
    for (const Host& host : scenario.hosts) {
      if (host.unchanged.empty()) continue;
      Check guard;
      guard.name = unchanged_check_name(host);
      if (std::any_of(scenario.checks.begin(), scenario.checks.end(),
                      [&](const Check& check) { return check.name == guard.name; })) {
        checks_value.error("a check is named '" + guard.name + "', the name of the guard of host " + host.name +
                           "'s unchanged paths");
        continue;
      }
      guard.host = host.name;
      guard.expect = CheckExpectation::Guard;
      guard.critical = true;
      guard.run = Script{unchanged_check_script(host), checks_value.position(), kDefaultCheckTimeout, nullptr};
      scenario.checks.push_back(std::move(guard));
    }
  }

  // critical, cap and requires: what a guard protects and what its failure costs. Only
  // guards have them; a fix check that fails already earns nothing.
  bool read_guard_rules(const Mapping& map, Check& check) {
    bool ok = true;
    const bool guard = check.expect == CheckExpectation::Guard;
    auto only_on_guards = [&](const Value& value, const char* key) {
      if (guard) return true;
      value.error(std::string("'") + key + "' applies to guards (expect: guard); a failing fix check already earns nothing");
      return false;
    };
    if (auto critical = map.get("critical")) {
      if (auto flag = critical->as_bool(); !flag) ok = false;
      else if (!only_on_guards(*critical, "critical")) ok = false;
      else check.critical = *flag;
    }
    if (auto cap = map.get("cap")) {
      if (auto number = cap->as_number(); !number) {
        ok = false;
      } else if (!only_on_guards(*cap, "cap")) {
        ok = false;
      } else if (!check.critical) {
        cap->error("needs 'critical: true': the cap is what a failing critical guard limits the score to");
        ok = false;
      } else if (*number < 0 || *number >= 1) {
        cap->error("must be at least 0 and below 1 (got " + weight_text(*number) + ")");
        ok = false;
      } else {
        check.cap = *number;
      }
    }
    if (auto requires_value = map.get("requires")) {
      if (!only_on_guards(*requires_value, "requires")) return false;
      auto names = requires_value->as_nonempty_list("check name");
      if (!names) return false;
      for (const Value& name : *names) {
        if (auto text = name.as_string()) check.required_fixes.push_back(*text);
        else ok = false;
      }
    }
    return ok;
  }

  // Every name under a guard's `requires:` is a fix check of this scenario.
  void check_required_fixes(const std::vector<Value>& items, const Scenario& scenario) {
    for (std::size_t i = 0; i < items.size() && i < scenario.checks.size(); ++i) {
      const Check& check = scenario.checks[i];
      if (check.required_fixes.empty()) continue;
      auto names = items[i].as_map()->get("requires")->as_list();
      for (std::size_t n = 0; n < check.required_fixes.size(); ++n) {
        const std::string& wanted = check.required_fixes[n];
        auto found = std::find_if(scenario.checks.begin(), scenario.checks.end(),
                                  [&](const Check& other) { return other.name == wanted; });
        if (found == scenario.checks.end()) {
          (*names)[n].error("unknown check '" + wanted + "' (requires names the fix checks this guard protects)");
        } else if (found->expect != CheckExpectation::Fix) {
          (*names)[n].error("'" + wanted + "' is a guard; requires names fix checks");
        }
      }
    }
  }

  static std::string weight_text(double number) {
    std::ostringstream out;
    out << number;
    return out.str();
  }

  void read_solution(const Mapping& root, Scenario& scenario) {
    auto value = root.has("variants") ? root.get("solution") : root.required("solution");
    if (!value) return;
    auto items = value->as_nonempty_list("step of the reference fix");
    if (!items) return;
    for (const Value& item : *items) {
      auto map = item.as_record({"host", "run", "timeout"});
      if (!map) continue;
      auto host = read_host_ref(*map, scenario);
      auto run = read_run(*map, kDefaultScriptTimeout, kMaxScriptTimeout);
      if (host && run) scenario.solution.push_back({*host, *run});
    }
  }

  void read_hints(const Mapping& root, Scenario& scenario) {
    auto value = root.get("hints");
    if (!value) return;
    auto items = value->as_list();
    if (!items) return;
    for (const Value& item : *items) {
      auto map = item.as_record({"after", "text", "cost"});
      if (!map) continue;
      Hint hint;
      bool ok = true;
      if (auto after = map->get("after")) {
        hint.after = after->as_duration();
        ok = hint.after.has_value();
        if (hint.after && *hint.after >= scenario.duration) {
          after->error("is not before the end of the session (" + format_duration(scenario.duration) +
                       "), so the hint would never be shown");
          ok = false;
        }
      }
      if (auto cost = map->get("cost")) {
        auto number = cost->as_number();
        if (number && (*number < 0 || *number > 1)) {
          cost->error("must be between 0 and 1, the fraction of the score a hint costs (got " + weight_text(*number) + ")");
        }
        if (!number || *number < 0 || *number > 1) ok = false;
        else hint.cost = *number;
      }
      auto text = map->required("text");
      std::optional<std::string> words = text ? text->as_text() : std::nullopt;
      if (!words) ok = false;
      if (ok) {
        hint.text = *words;
        scenario.hints.push_back(std::move(hint));
      }
    }
    // Given in order: timed hints by their time, the interviewer's own after them.
    std::stable_sort(scenario.hints.begin(), scenario.hints.end(), [](const Hint& a, const Hint& b) {
      return a.after.has_value() != b.after.has_value() ? a.after.has_value() : a.after < b.after;
    });
  }

  // shortcuts: and alternatives: each a named script (host, run, timeout); a shortcut
  // also says what it may earn: max_score, fails (checks it must fail), or both.
  void read_attempts(const Mapping& root, const char* key, const Scenario& scenario, std::vector<Attempt>& attempts) {
    const bool shortcuts = std::string_view(key) == "shortcuts";
    auto value = root.get(key);
    if (!value) return;
    auto items = value->as_list();
    if (!items) return;
    std::set<std::string> names;
    for (const Value& item : *items) {
      auto map = shortcuts ? item.as_record({"name", "host", "run", "timeout", "max_score", "fails"})
                           : item.as_record({"name", "host", "run", "timeout"});
      if (!map) continue;
      auto name = read_unique_name(*map, names, shortcuts ? "shortcut" : "alternative");
      auto host = read_host_ref(*map, scenario);
      auto run = read_run(*map, kDefaultScriptTimeout, kMaxScriptTimeout);
      Attempt attempt;
      bool ok = name && host && run;
      if (auto max_score = map->get("max_score")) {
        auto number = max_score->as_number();
        if (number && (*number < 0 || *number >= 1)) {
          max_score->error("must be at least 0 and below 1 (got " + weight_text(*number) + ")");
        }
        if (!number || *number < 0 || *number >= 1) ok = false;
        else attempt.max_score = *number;
      }
      if (auto fails = map->get("fails")) {
        if (auto list = fails->as_nonempty_list("check name")) {
          for (const Value& check_name : *list) {
            auto text = check_name.as_string();
            if (!text) {
              ok = false;
            } else if (std::none_of(scenario.checks.begin(), scenario.checks.end(),
                                    [&](const Check& check) { return check.name == *text; })) {
              check_name.error("unknown check '" + *text + "'");
              ok = false;
            } else {
              attempt.must_fail.push_back(*text);
            }
          }
        } else {
          ok = false;
        }
      }
      if (shortcuts && !map->get("max_score") && !map->get("fails")) {
        map->error("a shortcut needs 'max_score:' (the most it may score), 'fails:' (checks it must fail), or both");
        ok = false;
      }
      if (!ok) continue;
      attempt.name = *name;
      attempt.step = {*host, *run};
      attempts.push_back(std::move(attempt));
    }
  }

  void read_rubric(const Mapping& root, Scenario& scenario) { read_rubric_list(root, scenario.rubric); }

  // reply: {host, path}: where a customer scenario's candidate answers the ticket. Only
  // customer scenarios have one, and each needs one, and a rubric to judge it by.
  void read_reply(const Mapping& root, Scenario& scenario) {
    auto value = root.get("reply");
    const bool customer = scenario.kind == ScenarioKind::Customer;
    if (!value) {
      if (customer) root.error("a customer scenario needs 'reply:', the file the candidate answers the ticket in");
      if (customer && scenario.rubric.empty()) {
        root.error("a customer scenario needs 'rubric:': the interviewer judges the reply by it");
      }
      return;
    }
    if (!customer) {
      value->error("'reply' belongs to customer scenarios (kind: customer)");
      return;
    }
    if (scenario.rubric.empty()) root.error("a customer scenario needs 'rubric:': the interviewer judges the reply by it");
    auto map = value->as_record({"host", "path"});
    if (!map) return;
    auto host = read_host_ref(*map, scenario);
    auto path_value = map->required("path");
    auto path = path_value ? path_value->as_string() : std::nullopt;
    if (path && (path->front() != '/' || *path == "/" || path->find('\n') != std::string::npos ||
                 path->find("/../") != std::string::npos || path->back() == '/')) {
      path_value->error("'" + *path + "' is not an absolute path of a file");
      path.reset();
    }
    if (host && path) scenario.reply = Reply{*host, *path};
  }

  // variants: [{name, difficulty, faults, solution, hints, shortcuts, alternatives}]: each
  // key read as the scenario's own is, against the scenario's hosts and checks.
  void read_variants(const Mapping& root, Scenario& scenario) {
    auto value = root.get("variants");
    if (!value) return;
    auto items = value->as_nonempty_list("variant");
    if (!items) return;
    std::set<std::string> names;
    for (const Value& item : *items) {
      auto map = item.as_record({"name", "difficulty", "faults", "solution", "hints", "shortcuts", "alternatives"});
      if (!map) continue;
      auto name = read_unique_name(*map, names, "variant");
      if (name && !is_valid_id(*name)) {
        map->get("name")->error("'" + *name + "' is not a valid variant name (2 to 63 of a-z, 0-9 and '-')");
        name.reset();
      }
      // Read into a scenario of the same hosts, checks and length, then kept if given.
      Scenario part;
      part.kind = scenario.kind;
      part.duration = scenario.duration;
      part.hosts = scenario.hosts;
      part.checks = scenario.checks;
      Variant variant;
      if (auto difficulty = map->get("difficulty")) {
        variant.difficulty = difficulty->as_enum<Difficulty>(
            {{"easy", Difficulty::Easy}, {"medium", Difficulty::Medium}, {"hard", Difficulty::Hard}});
      }
      if (map->get("faults")) {
        read_faults(*map, part);
        variant.faults = part.faults;
      }
      if (map->get("solution")) {
        read_solution(*map, part);
        variant.solution = part.solution;
      }
      if (map->get("hints")) {
        read_hints(*map, part);
        variant.hints = part.hints;
      }
      if (map->get("shortcuts")) {
        read_attempts(*map, "shortcuts", part, part.shortcuts);
        variant.shortcuts = part.shortcuts;
      }
      if (map->get("alternatives")) {
        read_attempts(*map, "alternatives", part, part.alternatives);
        variant.alternatives = part.alternatives;
      }
      if (!name) continue;
      // What the variant leaves out is the scenario's: together they must make a lab.
      if (scenario.kind == ScenarioKind::BreakFix && variant.faults.value_or(scenario.faults).empty() &&
          !map->get("faults")) {
        map->error("variant '" + *name + "' has no faults, and neither has the scenario");
      }
      if (variant.solution.value_or(scenario.solution).empty() && !map->get("solution")) {
        map->error("variant '" + *name + "' has no solution, and neither has the scenario");
      }
      variant.name = *name;
      scenario.variants.push_back(std::move(variant));
    }
  }

  // lib: [file, ...]: shell helpers every script of the scenario may call, written once.
  // A name is looked up in the scenario's directory, then in the library's shared lib/
  // (the scenario directory's sibling), and never leads anywhere else.
  void read_lib(const Mapping& root, Scenario& scenario) {
    auto value = root.get("lib");
    if (!value) return;
    auto items = value->as_nonempty_list("helper file");
    if (!items) return;
    std::string text;
    for (const Value& item : *items) {
      auto name = item.as_string();
      if (!name) continue;
      if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
        item.error("'" + *name + "' is not a file name (helpers are found in the scenario's directory or the library's lib/)");
        continue;
      }
      std::error_code ec;
      fs::path found;
      for (const fs::path& dir : {scenario_dir_, scenario_dir_.parent_path() / "lib"}) {
        if (fs::is_regular_file(dir / *name, ec)) {
          found = dir / *name;
          // A symlink out of its directory would read a file of the machine into every lab.
          if (!is_inside(fs::weakly_canonical(found, ec), fs::weakly_canonical(dir, ec))) {
            item.error("'" + *name + "' leads outside " + dir.string() + "; a helper is read only from there");
            found = fs::path("/");
          }
          break;
        }
      }
      if (found == fs::path("/")) continue;
      if (found.empty()) {
        item.error("no helper '" + *name + "' in " + scenario_dir_.string() + " or " + (scenario_dir_.parent_path() / "lib").string());
        continue;
      }
      std::ifstream in(found, std::ios::binary);
      std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (body.size() > kMaxLibBytes) {
        item.error("'" + found.string() + "' is larger than " + std::to_string(kMaxLibBytes / 1024) + " KiB");
        continue;
      }
      text += "# " + *name + "\n" + body + (body.empty() || body.back() == '\n' ? "" : "\n");
      scenario.lib_files.push_back(found);
    }
    if (text.empty()) return;
    auto lib = std::make_shared<const std::string>(std::move(text));
    auto attach = [&](Script& script) { script.lib = lib; };
    for (Host& host : scenario.hosts) {
      if (host.setup) attach(*host.setup);
    }
    for (Fault& fault : scenario.faults) attach(fault.run);
    for (Check& check : scenario.checks) attach(check.run);
    for (SolutionStep& step : scenario.solution) attach(step.run);
    for (Attempt& attempt : scenario.shortcuts) attach(attempt.step.run);
    for (Attempt& attempt : scenario.alternatives) attach(attempt.step.run);
    for (Variant& variant : scenario.variants) {
      if (variant.faults) for (Fault& fault : *variant.faults) attach(fault.run);
      if (variant.solution) for (SolutionStep& step : *variant.solution) attach(step.run);
      if (variant.shortcuts) for (Attempt& attempt : *variant.shortcuts) attach(attempt.step.run);
      if (variant.alternatives) for (Attempt& attempt : *variant.alternatives) attach(attempt.step.run);
    }
  }

  void warn_unused_vars(const Mapping& root, const Scenario& scenario) {
    std::vector<const std::string*> scripts;
    for (const Host& host : scenario.hosts) {
      if (host.setup) scripts.push_back(&host.setup->text);
    }
    for (const Fault& fault : scenario.faults) scripts.push_back(&fault.run.text);
    for (const Check& check : scenario.checks) scripts.push_back(&check.run.text);
    for (const SolutionStep& step : scenario.solution) scripts.push_back(&step.run.text);
    for (const Variant& variant : scenario.variants) {
      if (variant.faults) for (const Fault& fault : *variant.faults) scripts.push_back(&fault.run.text);
      if (variant.solution) for (const SolutionStep& step : *variant.solution) scripts.push_back(&step.run.text);
    }
    auto vars = root.get("vars");
    for (const Var& var : scenario.vars) {
      const bool used = std::any_of(scripts.begin(), scripts.end(),
                                    [&](const std::string* script) { return script_mentions_var(*script, var.name); });
      if (!used && vars) {
        if (auto map = vars->as_map()) {
          if (auto spec = map->get(var.name)) spec->warning("variable " + var.name + " is not used by any script");
        }
      }
    }
  }

  DiagnosticLog& log_;
  fs::path scenario_dir_;
  bool hosts_complete_ = true;  // every host was read; else host references are not checked
};

}  // namespace

namespace {
// std::hash of the text, in hex: the same for the same text in every run of a build
// (libstdc++'s is a fixed-seed murmur); not a cryptographic digest, nor needed to be.
std::string text_digest(std::string_view text) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string_view>{}(text));
  return hex;
}
}  // namespace

ScenarioLoad parse_scenario(std::string_view text, const std::string& file_name, const fs::path& scenario_dir) {
  DiagnosticLog log(file_name);
  ScenarioLoad result;
  if (text.size() > kMaxScenarioFileBytes) {
    log.add(Severity::Error, YAML::Mark(), "file is larger than " + std::to_string(kMaxScenarioFileBytes / 1024) + " KiB");
    result.diagnostics = log.take();
    return result;
  }
  yaml::read_one_document(
      std::string(text), "a scenario file", log,
      [&](const Value& root) {
        ScenarioParser parser(log, scenario_dir);
        if (ScenarioPtr scenario = parser.parse(root)) {
          std::const_pointer_cast<Scenario>(scenario)->source_file = fs::path(file_name);
          std::const_pointer_cast<Scenario>(scenario)->digest = text_digest(text);
          result.scenario = scenario;
        }
      },
      [&] { log.add(Severity::Error, YAML::Mark(), "the file has no scenario in it; it should start with 'apiVersion: breakfix/v1'"); });
  result.diagnostics = log.take();
  // Read in file order, as an author fixes them (the parser finds them field by field).
  yaml::sort_in_file_order(result.diagnostics);
  if (has_errors(result.diagnostics)) result.scenario.reset();
  return result;
}

namespace {

// A library file's text, read up to a little past kMaxScenarioFileBytes (the parser
// reports the size); none, with the error added, when it cannot be read.
std::optional<std::string> read_library_file(const fs::path& file, std::vector<Diagnostic>& diagnostics) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || fs::is_directory(file, ec)) {
    diagnostics.push_back({{file.string(), 1, 1}, Severity::Error, "cannot read the file"});
    return std::nullopt;
  }
  std::string text;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxScenarioFileBytes) break;
  }
  return text;
}

}  // namespace

ScenarioLoad load_scenario_file(const fs::path& file) {
  ScenarioLoad result;
  auto text = read_library_file(file, result.diagnostics);
  return text ? parse_scenario(*text, file.string(), file.parent_path()) : result;
}

const std::vector<std::string>& grantable_capabilities() {
  static const std::vector<std::string> capabilities = {"SYS_PTRACE", "SYS_NICE", "SYS_RESOURCE", "IPC_LOCK"};
  return capabilities;
}

const char* to_string(ScenarioKind kind) {
  switch (kind) {
    case ScenarioKind::BreakFix: return "break-fix";
    case ScenarioKind::BugFix: return "bug-fix";
    case ScenarioKind::Customer: return "customer";
  }
  return "break-fix";
}

const char* to_string(Difficulty difficulty) {
  switch (difficulty) {
    case Difficulty::Easy: return "easy";
    case Difficulty::Medium: return "medium";
    case Difficulty::Hard: return "hard";
  }
  return "medium";
}

const char* to_string(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::None: return "none";
    case NetworkMode::Internal: return "internal";
    case NetworkMode::Outside: return "outside";
  }
  return "none";
}

const char* to_string(CheckExpectation expectation) {
  return expectation == CheckExpectation::Fix ? "fix" : "guard";
}

const char* to_string(HostInit init) { return init == HostInit::Systemd ? "systemd" : "default"; }

bool Scenario::needs_systemd() const {
  return std::any_of(hosts.begin(), hosts.end(), [](const Host& host) { return host.init == HostInit::Systemd; });
}

const Host& Scenario::entry_host() const {
  for (const Host& host : hosts) {
    if (host.entry) return host;
  }
  return hosts.front();  // a loaded scenario always has exactly one entry host
}

std::string unchanged_listing_command(const Host& host) {
  std::string paths;
  for (const std::string& path : host.unchanged) paths += " '" + path + "'";
  // -exec ... \; : busybox's find; sorted by path, so that the order is the files' own.
  return "find" + paths + " -xdev -type f -exec sha256sum {} \\; 2>/dev/null | sort -k 2";
}

std::string unchanged_var(const Host& host) {
  std::string name = "BREAKFIX_UNCHANGED_";
  for (char c : host.name) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string unchanged_check_name(const Host& host) { return host.name + ": files that must not change"; }

std::string unchanged_check_script(const Host& host) {
  const std::string var = unchanged_var(host);
  // Each line of the diff names a file and its hash before (-) and now (+).
  return "now=$(" + unchanged_listing_command(host) + ")\n"
         "test \"$now\" = \"${" + var + "-unknown}\" && exit 0\n"
         "echo \"files that must not change did (- as the candidate found them, + now):\"\n"
         "diff <(printf '%s\\n' \"${" + var + "-}\") <(printf '%s\\n' \"$now\") | grep '^[-+][^-+]'\n"
         "exit 1\n";
}

ScenarioPtr with_variant(const ScenarioPtr& scenario, std::size_t index) {
  if (!scenario || index >= scenario->variants.size()) return scenario;
  const Variant& variant = scenario->variants[index];
  auto resolved = std::make_shared<Scenario>(*scenario);
  resolved->variants.clear();
  resolved->variant = variant.name;
  if (variant.difficulty) resolved->difficulty = *variant.difficulty;
  if (variant.faults) resolved->faults = *variant.faults;
  if (variant.solution) resolved->solution = *variant.solution;
  if (variant.hints) resolved->hints = *variant.hints;
  if (variant.shortcuts) resolved->shortcuts = *variant.shortcuts;
  if (variant.alternatives) resolved->alternatives = *variant.alternatives;
  return resolved;
}

PlanLoad parse_plan(std::string_view text, const std::string& file_name) {
  DiagnosticLog log(file_name);
  PlanLoad result;
  if (text.size() > kMaxScenarioFileBytes) {
    log.add(Severity::Error, YAML::Mark(), "file is larger than " + std::to_string(kMaxScenarioFileBytes / 1024) + " KiB");
    result.diagnostics = log.take();
    return result;
  }
  yaml::read_one_document(
      std::string(text), "a plan file", log,
      [&](const Value& root) {
        if (PlanPtr plan = PlanParser().parse(root)) {
          std::const_pointer_cast<Plan>(plan)->source_file = fs::path(file_name);
          result.plan = plan;
        }
      },
      [&] { log.add(Severity::Error, YAML::Mark(), "the file has no plan in it; it should start with 'apiVersion: breakfix/v1'"); });
  result.diagnostics = log.take();
  yaml::sort_in_file_order(result.diagnostics);
  if (has_errors(result.diagnostics)) result.plan.reset();
  return result;
}

PlanLoad load_plan_file(const fs::path& file) {
  PlanLoad result;
  auto text = read_library_file(file, result.diagnostics);
  return text ? parse_plan(*text, file.string()) : result;
}

const char* to_string(PlanMode mode) { return mode == PlanMode::Sequence ? "sequence" : "together"; }

std::chrono::seconds Plan::duration() const {
  std::chrono::seconds total{0};
  for (const PlanPart& part : parts) total += part.duration;
  return total;
}

const RubricCriterion* Scenario::find_criterion(std::string_view name) const {
  for (const RubricCriterion& criterion : rubric) {
    if (criterion.name == name) return &criterion;
  }
  return nullptr;
}

const Host* Scenario::find_host(std::string_view name) const {
  for (const Host& host : hosts) {
    if (host.name == name) return &host;
  }
  return nullptr;
}

}  // namespace breakfix
