#include "scenario/yaml_reader.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <sstream>
#include <tuple>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "breakfix/duration.h"

namespace breakfix::yaml {
namespace {

// Counts the documents of a YAML stream, stopping at `limit`. Needed because
// yaml-cpp 0.7's LoadAll (Debian 12) loops forever, allocating, on some malformed
// input such as a lone ',' (yaml-cpp issue #1040, fixed upstream by PR #1319 after
// 0.7): it keeps reporting empty documents. Like that fix, an empty root ends the count.
class DocumentCounter : public YAML::EventHandler {
 public:
  static int count(const std::string& text, int limit) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    int documents = 0;
    while (documents < limit && parser.HandleNextDocument(counter) && !counter.root_is_null_) ++documents;
    return documents;
  }

 private:
  void OnDocumentStart(const YAML::Mark&) override { depth_ = 0, root_is_null_ = false; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { root_is_null_ = root_is_null_ || depth_ == 0; }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    ++depth_;
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    ++depth_;
  }
  void OnMapEnd() override { --depth_; }

  int depth_ = 0;
  bool root_is_null_ = false;
};

}  // namespace

namespace {

// The 1-based number of the first line holding something other than blanks, comments,
// directives and document markers, or 0. A file with none is an empty configuration;
// one whose content yaml-cpp read as nothing at all (a leading ',') is a syntax error.
int first_content_line(std::string_view text) {
  auto is_marker = [](std::string_view content, std::string_view marker) {
    return content.substr(0, 3) == marker && (content.size() == 3 || content[3] == ' ' || content[3] == '\t');
  };
  int line = 1;
  for (std::size_t start = 0; start < text.size(); ++line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view content = text.substr(start, end - start);
    const std::size_t first = content.find_first_not_of(" \t\r");
    start = end + 1;
    if (first == std::string_view::npos) continue;
    content.remove_prefix(first);
    while (!content.empty() && (content.back() == '\r' || content.back() == ' ' || content.back() == '\t')) {
      content.remove_suffix(1);
    }
    if (content[0] == '#' || (first == 0 && content[0] == '%')) continue;
    if (first == 0 && (is_marker(content, "---") || is_marker(content, "..."))) {
      const std::size_t rest = content.find_first_not_of(" \t", 3);
      if (rest == std::string_view::npos || content[rest] == '#') continue;
    }
    return line;
  }
  return 0;
}
}  // namespace

int count_yaml_documents(const std::string& text, int limit) { return DocumentCounter::count(text, limit); }

void read_one_document(const std::string& text, const std::string& what, DiagnosticLog& log,
                       const std::function<void(const Value& root)>& parse, const std::function<void()>& on_empty) {
  try {
    const YAML::Node root = YAML::Load(text);  // the first document; throws on syntax errors
    if (count_yaml_documents(text, 2) > 1) {
      log.add(Severity::Error, YAML::Mark(), what + " holds one YAML document; found more ('---')");
    } else if (root.IsNull()) {
      if (const int line = first_content_line(text); line > 0) {
        // yaml-cpp 0.7 reads some junk (a leading ',') as an empty document.
        YAML::Mark mark;
        mark.line = line - 1;
        log.add(Severity::Error, mark, "YAML syntax error: no value could be read here");
      } else if (on_empty) {
        on_empty();
      }
    } else {
      parse(Value(root, "", YAML::Mark(), &log));
    }
  } catch (const YAML::DeepRecursion& error) {
    log.add(Severity::Error, error.mark, "YAML syntax error: nested too deeply");
  } catch (const YAML::Exception& error) {
    // Syntax errors: yaml-cpp stops at the first, so it is the only one of the file.
    log.add(Severity::Error, error.mark, "YAML syntax error: " + error.msg);
  } catch (const std::exception& error) {
    log.add(Severity::Error, YAML::Mark(), "cannot read " + what + ": " + error.what());
  }
}

void sort_in_file_order(std::vector<Diagnostic>& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
}

namespace {

// yaml-cpp tags: "?" for a plain scalar, "!" for a quoted one.
bool is_plain_scalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

std::string prefixed(const std::string& path, const std::string& message) {
  return path.empty() ? message : path + ": " + message;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
// neighbours ("wbe" -> "web") each cost 1; case is ignored.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  auto same = [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  };
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

void DiagnosticLog::add(Severity severity, const YAML::Mark& mark, std::string message) {
  diagnostics_.push_back({position(mark), severity, std::move(message)});
}

SourcePosition DiagnosticLog::position(const YAML::Mark& mark) const {
  // yaml-cpp counts from 0 and uses -1 for "no position"; nodes of an empty document
  // have none, so those point at the top of the file.
  return {file_, mark.line < 0 ? 1 : mark.line + 1, mark.column < 0 ? 1 : mark.column + 1};
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string item_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::optional<std::string> nearest_word(std::string_view word, const std::vector<std::string_view>& known) {
  std::optional<std::string> best;
  if (word.size() > 64) return best;  // no key is that long; don't spend time on it
  std::size_t best_distance = std::max<std::size_t>(1, word.size() / 3) + 1;
  for (auto candidate : known) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best;
}

Value::Value(YAML::Node node, std::string path, YAML::Mark fallback_mark, DiagnosticLog* log)
    : node_(std::move(node)), path_(std::move(path)), fallback_mark_(fallback_mark), log_(log) {}

YAML::Mark Value::mark() const {
  YAML::Mark own = node_.Mark();
  return own.line < 0 ? fallback_mark_ : own;
}

void Value::error(const std::string& message) const { log_->add(Severity::Error, mark(), prefixed(path_, message)); }

void Value::warning(const std::string& message) const {
  log_->add(Severity::Warning, mark(), prefixed(path_, message));
}

std::string Value::describe_kind() const {
  switch (node_.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null: return "nothing";
    default: return "'" + node_.Scalar() + "'";
  }
}

std::optional<std::string> Value::scalar(const char* what) const {
  if (node_.IsNull() || (node_.IsScalar() && node_.Scalar().empty())) {
    error(std::string("must not be empty (expected ") + what + ")");
    return std::nullopt;
  }
  if (!node_.IsScalar()) {
    error(std::string("expected ") + what + ", got " + describe_kind());
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<std::string> Value::as_string() const { return scalar("a string"); }

std::optional<std::string> Value::as_text() const {
  auto text = scalar("text");
  if (!text) return std::nullopt;
  if (std::all_of(text->begin(), text->end(), [](unsigned char c) { return std::isspace(c); })) {
    error("is blank");
    return std::nullopt;
  }
  return text;
}

std::optional<double> Value::as_number() const {
  auto text = scalar("a number");
  if (!text) return std::nullopt;
  double number = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), number);
  if (!is_plain_scalar(node_) || ec != std::errc() || end != text->data() + text->size() || !std::isfinite(number)) {
    error("expected a number, got " + describe_kind());
    return std::nullopt;
  }
  return number;
}

std::optional<std::int64_t> Value::as_integer() const {
  auto text = scalar("a whole number");
  if (!text) return std::nullopt;
  std::int64_t number = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), number);
  if (!is_plain_scalar(node_) || ec != std::errc() || end != text->data() + text->size()) {
    error("expected a whole number, got " + describe_kind());
    return std::nullopt;
  }
  return number;
}

std::optional<bool> Value::as_bool() const {
  auto text = scalar("true or false");
  if (!text) return std::nullopt;
  if (is_plain_scalar(node_)) {
    if (*text == "true" || *text == "True" || *text == "TRUE") return true;
    if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  }
  error("expected true or false, got " + describe_kind());
  return std::nullopt;
}

std::optional<std::chrono::seconds> Value::as_duration() const {
  auto text = scalar("a duration such as 45s, 30m or 1h30m");
  if (!text) return std::nullopt;
  if (auto duration = parse_duration(*text)) return duration;
  const bool bare_number = !text->empty() && std::all_of(text->begin(), text->end(), [](unsigned char c) {
    return std::isdigit(c);
  });
  error("'" + *text + "' is not a duration" +
        (bare_number ? "; add a unit: " + *text + "s, " + *text + "m or " + *text + "h"
                     : " (write it as 45s, 30m, 1h or 1h30m)"));
  return std::nullopt;
}

std::optional<std::vector<Value>> Value::as_nonempty_list(std::string_view what) const {
  auto items = as_list();
  if (items && items->empty()) {
    error("must list at least one " + std::string(what));
    return std::nullopt;
  }
  return items;
}

std::optional<std::vector<Value>> Value::as_list() const {
  if (node_.IsNull()) return std::vector<Value>{};
  if (!node_.IsSequence()) {
    error("expected a list, got " + describe_kind());
    return std::nullopt;
  }
  std::vector<Value> items;
  for (std::size_t i = 0; i < node_.size(); ++i) {
    const YAML::Node& sequence = node_;  // const: operator[] on a mutable node may insert
    items.emplace_back(sequence[i], item_path(path_, i), mark(), log_);
  }
  return items;
}

std::optional<Mapping> Value::as_record(std::initializer_list<std::string_view> known_keys) const {
  const std::vector<std::string_view> known(known_keys);
  return mapping(&known);
}

std::optional<Mapping> Value::as_map() const { return mapping(nullptr); }

std::optional<Mapping> Value::mapping(const std::vector<std::string_view>* known_keys) const {
  Mapping result(path_, mark(), log_);
  if (node_.IsNull()) return result;
  if (!node_.IsMap()) {
    error("expected a mapping of keys to values, got " + describe_kind());
    return std::nullopt;
  }
  for (const auto& pair : node_) {
    const YAML::Node key = pair.first;
    const YAML::Mark key_mark = key.Mark().line < 0 ? mark() : key.Mark();
    if (!key.IsScalar()) {
      log_->add(Severity::Error, key_mark, prefixed(path_, "keys must be plain names"));
      continue;
    }
    const std::string& name = key.Scalar();
    if (const Mapping::Entry* first = result.find(name)) {
      log_->add(Severity::Error, key_mark,
                prefixed(path_, "duplicate key '" + name + "' (first at line " +
                                    std::to_string(log_->position(first->key_mark).line) + ")"));
      continue;
    }
    if (known_keys && std::find(known_keys->begin(), known_keys->end(), name) == known_keys->end()) {
      std::string message = "unknown key '" + name + "'";
      if (auto suggestion = nearest_word(name, *known_keys)) message += " (did you mean '" + *suggestion + "'?)";
      log_->add(Severity::Error, key_mark, prefixed(path_, message));
      continue;
    }
    result.entries_.push_back({name, key_mark, Value(pair.second, child_path(path_, name), key_mark, log_)});
  }
  return result;
}

const Mapping::Entry* Mapping::find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

std::optional<Value> Mapping::get(std::string_view key) const {
  if (const Entry* entry = find(key)) return entry->value;
  return std::nullopt;
}

std::optional<Value> Mapping::required(std::string_view key) const {
  if (const Entry* entry = find(key)) return entry->value;
  error("missing required key '" + std::string(key) + "'");
  return std::nullopt;
}

void Mapping::error(const std::string& message) const { log_->add(Severity::Error, mark_, prefixed(path_, message)); }

void Mapping::key_error(std::string_view key, const std::string& message) const {
  const Entry* entry = find(key);
  log_->add(Severity::Error, entry ? entry->key_mark : mark_, prefixed(path_, message));
}

}  // namespace breakfix::yaml
