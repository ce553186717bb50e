#include "process.h"

#include <boost/asio/io_context.hpp>
#include <boost/process.hpp>

namespace breakfix::testing {

namespace bp = boost::process;

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          const std::vector<std::pair<std::string, std::string>>& extra_env) {
  boost::asio::io_context io;
  std::future<std::string> out, err;
  bp::environment env = boost::this_process::environment();
  // set(), not env[name]: Boost 1.74's find() behind operator[] reads past the end of
  // variables shorter than `name` (AddressSanitizer reports it).
  for (const auto& [name, value] : extra_env) env.set(name, value);
  // A name without a slash is looked up in PATH, as a shell would.
  const std::string& program = argv.at(0);
  const auto executable = program.find('/') == std::string::npos ? bp::search_path(program) : program;
  bp::child child(executable, bp::args(std::vector<std::string>(argv.begin() + 1, argv.end())), env,
                  bp::std_in < boost::asio::buffer(input), bp::std_out > out, bp::std_err > err, io);
  io.run();
  child.wait();
  return {child.exit_code(), out.get(), err.get()};
}

}  // namespace breakfix::testing
