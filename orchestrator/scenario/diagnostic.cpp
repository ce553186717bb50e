#include "breakfix/diagnostic.h"

#include <algorithm>

namespace breakfix {

std::string format_diagnostic(const Diagnostic& diagnostic) {
  std::string text = diagnostic.where.file + ":" + std::to_string(diagnostic.where.line) + ":" +
                     std::to_string(diagnostic.where.column) + ": ";
  if (diagnostic.severity == Severity::Warning) text += "warning: ";
  return text + diagnostic.message;
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
  return count(diagnostics, Severity::Error) > 0;
}

int count(const std::vector<Diagnostic>& diagnostics, Severity severity) {
  return static_cast<int>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                        [&](const Diagnostic& d) { return d.severity == severity; }));
}

}  // namespace breakfix
