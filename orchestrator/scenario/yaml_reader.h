#pragma once

// Reading YAML with diagnostics: typed access to a yaml-cpp document where every
// failure becomes a FILE:LINE:COL message that names the field. It knows YAML and
// nothing of scenarios; scenario_loader.cpp knows the format and nothing of yaml-cpp
// beyond this file. Not part of the public headers: yaml-cpp stays out of them.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "breakfix/diagnostic.h"

namespace breakfix::yaml {

class DiagnosticLog {
 public:
  explicit DiagnosticLog(std::string file) : file_(std::move(file)) {}

  void add(Severity severity, const YAML::Mark& mark, std::string message);
  SourcePosition position(const YAML::Mark& mark) const;
  const std::string& file() const { return file_; }
  bool has_errors() const { return breakfix::has_errors(diagnostics_); }
  std::vector<Diagnostic> take() { return std::move(diagnostics_); }

 private:
  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

class Mapping;

// A node of the document with its field path ("checks[2].weight"). The as_* methods
// convert it; on failure they log an error naming the path and return nullopt, so a
// caller just skips the field and goes on to find the file's other errors.
class Value {
 public:
  Value(YAML::Node node, std::string path, YAML::Mark fallback_mark, DiagnosticLog* log);

  const std::string& path() const { return path_; }
  // The node itself, for the rare field whose rules the as_* methods do not cover
  // (the daemon config's empty strings meaning "off").
  const YAML::Node& node() const { return node_; }
  YAML::Mark mark() const;
  bool is_null() const { return node_.IsNull(); }
  void error(const std::string& message) const;
  void warning(const std::string& message) const;
  SourcePosition position() const { return log_->position(mark()); }

  // Any non-empty scalar, quoted or not (`title: 123` is the string "123").
  std::optional<std::string> as_string() const;
  // A scalar with at least one non-blank character (a script, a description).
  std::optional<std::string> as_text() const;
  // Unquoted scalars only: "1.5" in quotes is a string, not a number.
  std::optional<double> as_number() const;
  std::optional<std::int64_t> as_integer() const;
  std::optional<bool> as_bool() const;
  std::optional<std::chrono::seconds> as_duration() const;
  // One of `names`; the error lists them.
  template <typename Enum>
  std::optional<Enum> as_enum(std::initializer_list<std::pair<const char*, Enum>> names) const;
  // A sequence; null (`tags:` with nothing after it) is an empty one.
  std::optional<std::vector<Value>> as_list() const;
  // A sequence with at least one item; else "must list at least one <what>".
  std::optional<std::vector<Value>> as_nonempty_list(std::string_view what) const;
  // A mapping whose keys must be among `known_keys` (unknown and duplicate keys are
  // reported, with the nearest known key). Null is an empty mapping.
  std::optional<Mapping> as_record(std::initializer_list<std::string_view> known_keys) const;
  // A mapping with free keys (duplicates are still reported).
  std::optional<Mapping> as_map() const;

 private:
  std::optional<std::string> scalar(const char* what) const;
  std::optional<Mapping> mapping(const std::vector<std::string_view>* known_keys) const;
  std::string describe_kind() const;

  YAML::Node node_;
  std::string path_;
  YAML::Mark fallback_mark_;
  DiagnosticLog* log_;
};

class Mapping {
 public:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    Value value;
  };

  Mapping(std::string path, YAML::Mark mark, DiagnosticLog* log) : path_(std::move(path)), mark_(mark), log_(log) {}

  // The value under `key`, or nullopt when the key is absent.
  std::optional<Value> get(std::string_view key) const;
  // As get(), but a missing key is an error at the mapping.
  std::optional<Value> required(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& path() const { return path_; }
  YAML::Mark mark() const { return mark_; }
  void error(const std::string& message) const;
  // An error about a key being there at all, reported where the key is written.
  void key_error(std::string_view key, const std::string& message) const;

 private:
  friend class Value;
  const Entry* find(std::string_view key) const;

  std::string path_;
  YAML::Mark mark_;
  DiagnosticLog* log_;
  std::vector<Entry> entries_;
};

// Counts the documents of a YAML stream, stopping at `limit`. Needed because yaml-cpp
// 0.7's LoadAll (Debian 12) loops forever, allocating, on some malformed input such as a
// lone ',' (yaml-cpp issue #1040, fixed upstream by PR #1319 after 0.7): it keeps
// reporting empty documents. Like that fix, an empty root ends the count. Every loader
// (scenarios, the daemon config) counts with this before it loads.
int count_yaml_documents(const std::string& text, int limit);

// Reads `text` as a file of one YAML document and hands its root to `parse`. Syntax
// errors, more than one document, and yaml-cpp's reading of junk as an empty document
// become errors in `log`; a file of nothing but comments calls `on_empty` (if given).
// `what` names the file's kind in messages: "a scenario file".
void read_one_document(const std::string& text, const std::string& what, DiagnosticLog& log,
                       const std::function<void(const Value& root)>& parse, const std::function<void()>& on_empty);

// By line and column, stable: the order in which an author fixes them.
void sort_in_file_order(std::vector<Diagnostic>& diagnostics);

// "checks" + 2 -> "checks[2]"; "hosts[0]" + "name" -> "hosts[0].name".
std::string child_path(const std::string& parent, std::string_view key);
std::string item_path(const std::string& parent, std::size_t index);

// The known word nearest to `word` by edit distance, if near enough to be a likely typo.
std::optional<std::string> nearest_word(std::string_view word, const std::vector<std::string_view>& known);

template <typename Enum>
std::optional<Enum> Value::as_enum(std::initializer_list<std::pair<const char*, Enum>> names) const {
  auto text = scalar("one of the listed words");
  if (!text) return std::nullopt;
  std::string choices;
  for (const auto& [name, value] : names) {
    if (*text == name) return value;
    choices += choices.empty() ? "" : ", ";
    choices += name;
  }
  error("'" + *text + "' is not one of: " + choices);
  return std::nullopt;
}

}  // namespace breakfix::yaml
