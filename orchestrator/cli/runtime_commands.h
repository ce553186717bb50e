#pragma once

namespace CLI {
class App;
}

namespace breakfix::cli {

// `breakfix image base`, `breakfix image build` and `breakfix gc`: the commands that
// talk to the container runtime directly (the engine from $DOCKER_HOST or the default
// socket).
void add_runtime_commands(CLI::App& app, int& exit_code);

// `breakfix session drive` (session_drive_command.cpp).
void add_session_commands(CLI::App& app, int& exit_code);

}  // namespace breakfix::cli
