#pragma once

#include <memory>
#include <string>

#include "breakfix/runtime.h"

namespace CLI {
class App;
}

namespace breakfix::cli {

// The runtime named by `backend` ("docker", "lxd"; empty: $BREAKFIX_BACKEND, else
// docker) on its socket ($DOCKER_HOST, $LXD_SOCKET or the default), once it answers a
// ping; else nullptr after printing why (which socket, and how to start or reach it).
std::unique_ptr<Runtime> connect_runtime(const std::string& backend = "");

// `breakfix image base`, `breakfix image build` and `breakfix gc`: the commands that
// talk to the container runtime directly (the engine from $DOCKER_HOST or the default
// socket).
void add_runtime_commands(CLI::App& app, int& exit_code);

// `breakfix session ...`: drive (session_drive_command.cpp) and the commands that talk
// to the daemon (session_command.cpp).
void add_session_commands(CLI::App& app, int& exit_code);
void add_session_client_commands(CLI::App* session, int& exit_code);
// `session replay` and `session watch` (replay_command.cpp).
void add_session_replay_commands(CLI::App* session, int& exit_code);

// `breakfix completion bash` (completion_command.cpp): a bash completion script made
// from app's command tree, so it never falls behind the commands.
void add_completion_command(CLI::App& app, int& exit_code);

// `breakfix report compare` (report_command.cpp).
void add_report_commands(CLI::App& app, int& exit_code);

// `breakfix serve` (serve_command.cpp).
void add_serve_command(CLI::App& app, int& exit_code);

}  // namespace breakfix::cli
