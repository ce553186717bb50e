#pragma once

// Runs a command the way a user would, for tests that drive real programs (the
// breakfix binary, ssh, curl): arguments as a list, stdin given, stdout and stderr
// captured apart, the exit code read back.

#include <string>
#include <vector>

namespace breakfix::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = "",
                          const std::vector<std::pair<std::string, std::string>>& extra_env = {});

}  // namespace breakfix::testing
