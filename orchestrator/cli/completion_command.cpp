// `breakfix completion bash`: prints a bash completion script made from the command tree
// itself (every subcommand, option and positional argument CLI11 knows), so it cannot go
// stale. The values that change come from breakfix while completing: live session ids
// from `session list -o json` (nothing at all when no daemon answers), scenario ids from
// `scenario list -o json`.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/exit_codes.h"

namespace breakfix::cli {
namespace {

// How one value is completed; _breakfix_fill in the script knows each by this name.
enum class ValueKind { None, Words, Files, Dirs, Sessions, Scenarios, ScenariosOrFiles };

const char* kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::None: return "none";
    case ValueKind::Words: return "words";
    case ValueKind::Files: return "files";
    case ValueKind::Dirs: return "dirs";
    case ValueKind::Sessions: return "sessions";
    case ValueKind::Scenarios: return "scenarios";
    case ValueKind::ScenariosOrFiles: return "scenarios_or_files";
  }
  return "none";
}

struct ValueSpec {
  ValueKind kind = ValueKind::None;
  std::vector<std::string> words;  // for Words
};

struct OptionSpec {
  std::vector<std::string> names;  // "--output", "-o"
  bool takes_value = false;
  bool many_values = false;  // CLI11 keeps taking values until the next option
  ValueSpec value;
};

struct CommandSpec {
  std::string path;  // "breakfix session start"
  std::vector<std::string> subcommands;
  std::vector<OptionSpec> options;
  std::vector<ValueSpec> positionals;
  bool last_positional_repeats = false;
};

// Names and words go into the script unquoted (case labels are quoted, but compgen -W
// expands its word list): anything but these characters is left out rather than escaped.
bool plain_word(const std::string& word) {
  static const std::regex pattern("[A-Za-z0-9_.,:/+@%=-]+");
  return std::regex_match(word, pattern) && word.front() != '=';
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// The choices of a CLI::IsMember check, which CLI11 shows in the type name:
// "TEXT:{table,json}" (a map shows "{key->value,...}").
std::vector<std::string> choices(const std::string& type_name) {
  std::vector<std::string> words;
  const std::size_t open = type_name.find(":{");
  const std::size_t close = type_name.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return words;
  std::stringstream list(type_name.substr(open + 2, close - open - 2));
  std::string word;
  while (std::getline(list, word, ',')) {
    word = word.substr(0, word.find("->"));
    if (!word.empty() && plain_word(word)) words.push_back(word);
  }
  return words;
}

// Which values an option or positional argument takes: its IsMember choices; ids for the
// arguments that are ids; file or directory names for those that are paths, known by
// their validator (ExistingFile shows as "FILE") or else by their name.
ValueSpec value_spec(const CLI::Option& option, bool positional) {
  ValueSpec spec;
  const std::string type = option.get_type_name();
  spec.words = choices(type);
  if (!spec.words.empty()) {
    spec.kind = ValueKind::Words;
    return spec;
  }
  const std::string name = positional ? option.get_name(true) : option.get_name();
  const auto named = [&name](std::initializer_list<const char*> parts) {
    return std::any_of(parts.begin(), parts.end(), [&name](const char* part) { return contains(name, part); });
  };
  if (positional && (name == "id" || name == "ids")) {
    spec.kind = ValueKind::Sessions;  // session show|extend|hint|note|rate|end|next|grade|report|rm ID; report compare ID...
  } else if (positional && name == "scenario") {
    spec.kind = ValueKind::Scenarios;  // session start|drive SCENARIO
  } else if (positional && name == "scenarios") {
    spec.kind = ValueKind::ScenariosOrFiles;  // scenario test [ID|PATH...]
  } else if (contains(type, "DIR") || named({"dir", "scenarios"})) {
    spec.kind = ValueKind::Dirs;  // --data-dir, --work-dir, --scenarios DIR...
  } else if (contains(type, "FILE") || contains(type, "PATH") || named({"path", "file", "config", "socket", "key"})) {
    spec.kind = ValueKind::Files;
  }
  return spec;
}

void collect(const CLI::App& app, const std::string& path, std::vector<CommandSpec>& out) {
  CommandSpec command;
  command.path = path;
  const auto visible = [](const CLI::App* sub) { return !sub->get_disabled() && !sub->get_group().empty(); };
  const std::vector<const CLI::App*> subcommands = app.get_subcommands(std::function<bool(const CLI::App*)>(visible));
  for (const CLI::App* sub : subcommands) {
    if (plain_word(sub->get_name())) command.subcommands.push_back(sub->get_name());
  }
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_group().empty()) continue;  // hidden
    if (option->nonpositional()) {
      OptionSpec spec;
      for (const std::string& name : option->get_lnames()) spec.names.push_back("--" + name);
      for (const std::string& name : option->get_snames()) spec.names.push_back("-" + name);
      std::erase_if(spec.names, [](const std::string& name) { return !plain_word(name); });
      if (spec.names.empty()) continue;
      spec.takes_value = option->get_items_expected_max() > 0;
      spec.many_values = option->get_items_expected_max() > 1;
      if (spec.takes_value) spec.value = value_spec(*option, false);
      command.options.push_back(std::move(spec));
    } else if (option->get_positional()) {
      command.positionals.push_back(value_spec(*option, true));
      command.last_positional_repeats = option->get_items_expected_max() > 1;
    }
  }
  out.push_back(std::move(command));
  for (const CLI::App* sub : subcommands) {
    if (plain_word(sub->get_name())) collect(*sub, path + " " + sub->get_name(), out);
  }
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

std::string case_label(const std::string& path, const std::string& what) { return "'" + path + "|" + what + "'"; }

// The part of the script that knows nothing of breakfix's commands: it walks the words
// typed so far through the tables above, then completes the current one.
constexpr const char* kDriver = R"bash(
# Whether word $1 is one of the space-separated words $2.
_breakfix_in() {
  [[ $1 != *[[:space:]]* && " $2 " == *" $1 "* ]]
}

# Runs breakfix quietly and briefly: a completion must never print or hang.
_breakfix_quietly() {
  if command -v timeout >/dev/null 2>&1; then
    timeout 5 "$program" "$@" 2>/dev/null
  else
    "$program" "$@" 2>/dev/null
  fi
}

# Live session ids, from the daemon the command line names (--socket, --url, --token) or
# the environment's ($BREAKFIX_SOCKET, $BREAKFIX_URL, $BREAKFIX_TOKEN). The JSON is
# breakfix's own, two-space indented: a session's fields are six spaces in.
_breakfix_session_ids() {
  _breakfix_quietly session list -o json "${connection[@]}" |
    command sed -n 's/^      "id": "\([a-z0-9]*\)",\{0,1\}$/\1/p'
}

# Scenario ids as `scenario list` finds them ($BREAKFIX_SCENARIO_DIRS, ./scenarios, or
# the directories given with --scenarios); an array of objects, fields four spaces in.
_breakfix_scenario_ids() {
  _breakfix_quietly scenario list -o json "${scenario_dirs[@]}" |
    command sed -n 's/^    "id": "\([a-z0-9][a-z0-9-]*\)",\{0,1\}$/\1/p'
}

# Adds the completions of one kind of value for $cur to COMPREPLY.
_breakfix_fill() {
  local found=""
  case $1 in
    words) found=$(compgen -W "$words" -- "$cur") ;;
    files) compopt -o filenames 2>/dev/null; found=$(compgen -f -- "$cur") ;;
    dirs) compopt -o filenames 2>/dev/null; found=$(compgen -d -- "$cur") ;;
    sessions) found=$(compgen -W "$(_breakfix_session_ids)" -- "$cur") ;;
    scenarios) found=$(compgen -W "$(_breakfix_scenario_ids)" -- "$cur") ;;
    scenarios_or_files)
      compopt -o filenames 2>/dev/null
      found=$(compgen -W "$(_breakfix_scenario_ids)" -- "$cur"; compgen -f -- "$cur")
      ;;
  esac
  [[ -n $found ]] && mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY <<<"$found"
  return 0
}

# Remembers the options later lookups need: where the daemon is, where scenarios are.
_breakfix_remember() {
  case $1 in
    --socket | --url | --token) connection+=("$1" "$2") ;;
    --scenarios) [[ $path == "breakfix session drive" ]] && scenario_dirs+=("$2") ;;
  esac
}

_breakfix() {
  local cur=${COMP_WORDS[COMP_CWORD]} program=${COMP_WORDS[0]}
  # shellcheck disable=SC2088 # a literal "~/" as typed, which bash has not expanded
  [[ $program == "~/"* ]] && program=$HOME/${program#"~/"}
  local path=breakfix subcommands options value_options many_options positionals repeat_last kind words
  local -a connection=() scenario_dirs=()
  local i=1 word value pending="" many="" npos=0 end_of_options=0
  COMPREPLY=()

  # The words before the cursor: subcommands deepen the path; options that take a value
  # take the next word (bash splits "--output=json" at "=", and a URL at each ":").
  while ((i < COMP_CWORD)); do
    word=${COMP_WORDS[i]}
    _breakfix_describe "$path"
    if [[ -n $pending ]]; then
      if [[ $word == "=" ]]; then
        ((i++))
        continue
      fi
      value=$word
      while ((i + 2 < COMP_CWORD)) && [[ ${COMP_WORDS[i + 1]} == ":" ]]; do
        value+=":${COMP_WORDS[i + 2]}"
        ((i += 2))
      done
      _breakfix_remember "$pending" "$value"
      _breakfix_in "$pending" "$many_options" && many=$pending
      pending=""
    elif ((!end_of_options)) && [[ $word == -- ]]; then
      end_of_options=1
      many=""
    elif ((!end_of_options)) && [[ $word == -* ]]; then
      many=""
      if [[ $word == -*=* ]]; then
        _breakfix_remember "${word%%=*}" "${word#*=}"
        _breakfix_in "${word%%=*}" "$many_options" && many=${word%%=*}
      elif _breakfix_in "$word" "$value_options"; then
        pending=$word
      fi
    elif [[ -n $many ]]; then
      _breakfix_remember "$many" "$word"
    elif ((!end_of_options)) && _breakfix_in "$word" "$subcommands"; then
      path+=" $word"
      npos=0
    else
      ((npos++))
    fi
    ((i++))
  done
  _breakfix_describe "$path"

  # The value of an option: "--output <TAB>", "--output=<TAB>", "--key a.pub <TAB>".
  [[ -z $pending && $cur == "=" && ${COMP_WORDS[COMP_CWORD - 1]} == -* ]] && pending=${COMP_WORDS[COMP_CWORD - 1]}
  [[ $cur == "=" ]] && cur=""
  if [[ -z $pending && -n $many && $cur != -* ]]; then
    pending=$many
  fi
  if [[ -n $pending ]]; then
    _breakfix_value_kind "$path" "$pending"
    _breakfix_fill "$kind"
    return 0
  fi

  if ((!end_of_options)) && [[ $cur == -* ]]; then
    if [[ $cur == -*=* ]]; then
      # One word "--output=js" (COMP_WORDBREAKS without "="): complete the part after "=".
      local option=${cur%%=*}
      cur=${cur#*=}
      _breakfix_value_kind "$path" "$option"
      _breakfix_fill "$kind"
      local n
      for n in "${!COMPREPLY[@]}"; do COMPREPLY[n]="$option=${COMPREPLY[n]}"; done
      return 0
    fi
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    return 0
  fi

  [[ -n $subcommands && $end_of_options == 0 ]] && mapfile -t COMPREPLY < <(compgen -W "$subcommands" -- "$cur")
  if ((npos >= positionals && repeat_last && positionals > 0)); then
    npos=$((positionals - 1))
  fi
  if ((npos < positionals)); then
    _breakfix_value_kind "$path" "#$npos"
    _breakfix_fill "$kind"
  fi
  return 0
}

complete -F _breakfix breakfix
)bash";

std::string bash_script(const CLI::App& root) {
  std::vector<CommandSpec> commands;
  collect(root, root.get_name(), commands);
  std::ostringstream out;
  out << "# bash completion for " << root.get_name() << ", generated by `" << root.get_name()
      << " completion bash` from its own\n"
      << "# command tree. Install it with\n"
      << "#   " << root.get_name() << " completion bash > /etc/bash_completion.d/" << root.get_name() << "\n"
      << "# or, for one shell, source <(" << root.get_name() << " completion bash).\n"
      << "# shellcheck shell=bash\n\n";

  out << "# Sets, for a command path (\"breakfix session start\"): its subcommands; its options\n"
      << "# (long names), those taking a value and those taking several (both spellings); how\n"
      << "# many positional arguments it has and whether the last one repeats.\n"
      << "_breakfix_describe() {\n"
      << "  subcommands='' options='' value_options='' many_options='' positionals=0 repeat_last=0\n"
      << "  case $1 in\n";
  for (const CommandSpec& command : commands) {
    std::vector<std::string> long_names, value_names, many_names;
    for (const OptionSpec& option : command.options) {
      bool has_long = false;
      for (const std::string& name : option.names) {
        if (name.rfind("--", 0) == 0) {
          long_names.push_back(name);
          has_long = true;
        }
      }
      if (!has_long) long_names.push_back(option.names.front());
      if (option.takes_value) value_names.insert(value_names.end(), option.names.begin(), option.names.end());
      if (option.many_values) many_names.insert(many_names.end(), option.names.begin(), option.names.end());
    }
    out << "    '" << command.path << "')\n";
    if (!command.subcommands.empty()) out << "      subcommands='" << joined(command.subcommands) << "'\n";
    out << "      options='" << joined(long_names) << "'\n";
    if (!value_names.empty()) out << "      value_options='" << joined(value_names) << "'\n";
    if (!many_names.empty()) out << "      many_options='" << joined(many_names) << "'\n";
    if (!command.positionals.empty()) {
      out << "      positionals=" << command.positionals.size()
          << " repeat_last=" << (command.last_positional_repeats ? 1 : 0) << "\n";
    }
    out << "      ;;\n";
  }
  out << "  esac\n}\n\n";

  out << "# Sets kind (and words, for kind=words): how to complete the value of option $2, or of\n"
      << "# positional argument #N, of command path $1.\n"
      << "_breakfix_value_kind() {\n"
      << "  kind=none words=''\n"
      << "  case \"$1|$2\" in\n";
  for (const CommandSpec& command : commands) {
    for (const OptionSpec& option : command.options) {
      if (!option.takes_value || option.value.kind == ValueKind::None) continue;
      std::string labels;
      for (const std::string& name : option.names) {
        labels += (labels.empty() ? "" : " | ") + case_label(command.path, name);
      }
      out << "    " << labels << ") kind=" << kind_name(option.value.kind);
      if (option.value.kind == ValueKind::Words) out << " words='" << joined(option.value.words) << "'";
      out << " ;;\n";
    }
    for (std::size_t n = 0; n < command.positionals.size(); ++n) {
      const ValueSpec& value = command.positionals[n];
      if (value.kind == ValueKind::None) continue;
      out << "    " << case_label(command.path, "#" + std::to_string(n)) << ") kind=" << kind_name(value.kind);
      if (value.kind == ValueKind::Words) out << " words='" << joined(value.words) << "'";
      out << " ;;\n";
    }
  }
  out << "  esac\n}\n";
  out << kDriver;
  return out.str();
}

}  // namespace

void add_completion_command(CLI::App& app, int& exit_code) {
  CLI::App* completion = app.add_subcommand("completion", "Print a shell completion script");
  completion->require_subcommand(1);
  CLI::App* bash = completion->add_subcommand(
      "bash", "Print the bash completion script (install: breakfix completion bash > /etc/bash_completion.d/breakfix)");
  // The root app outlives parsing (it is main()'s): the script is made from it as parsed.
  bash->callback([&app, &exit_code] {
    std::cout << bash_script(app);
    exit_code = kExitOk;
  });
}

}  // namespace breakfix::cli
