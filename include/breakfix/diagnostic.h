#pragma once

#include <string>
#include <vector>

namespace breakfix {

// A place in a source file. Lines and columns count from 1, as editors show them.
struct SourcePosition {
  std::string file;
  int line = 1;
  int column = 1;
};

enum class Severity { Error, Warning };

// One problem found in a scenario (or, later, a config file), tied to where it is.
struct Diagnostic {
  SourcePosition where;
  Severity severity = Severity::Error;
  std::string message;  // names the field, e.g. "checks[1].weight: must be greater than 0 (got -1)"
};

// "FILE:LINE:COL: message" for errors, "FILE:LINE:COL: warning: message" for warnings,
// the form compilers use so that editors and terminals can jump to the place.
std::string format_diagnostic(const Diagnostic& diagnostic);

bool has_errors(const std::vector<Diagnostic>& diagnostics);
int count(const std::vector<Diagnostic>& diagnostics, Severity severity);

}  // namespace breakfix
