// prfaas: the command line.  Each group of commands lives in a file of its own (apps/commands.h):
//
//   deployment_commands.cpp   up, down, status, demo, certs
//   request_commands.cpp      generate, trace, metrics, check
//   operator_commands.cpp     chaos, link set, node convert
//   model_commands.cpp        model init
//   bench_commands.cpp        bench ..., netem up, plan, sim, replay: prfaas-bench's, handed over
//                             to it (same arguments, same exit status)
//
// Exit status: 0 success, 1 an operating error (the message names the cause), 2 bad usage.

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "apps/commands.h"
#include "apps/launcher.h"

using namespace prfaas;

namespace {

// prfaas-bench, beside this binary, runs `argv` as it is; returns only when it cannot.
int hand_over(char** argv) {
  const std::string bench = apps::executable_dir() + "/prfaas-bench";
  if (!std::filesystem::exists(bench)) {
    std::cerr << "prfaas: error: '" << argv[1] << "' is a prfaas-bench command and " << bench
              << " is not built (./prfaas build builds it)" << std::endl;
    return 1;
  }
  ::execv(bench.c_str(), argv);
  std::cerr << "prfaas: error: cannot run " << bench << ": " << std::strerror(errno) << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc > 1)
    for (const auto& [name, what] : apps::bench_command_names())
      if (name == argv[1]) return hand_over(argv);
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"prfaas: Prefill-as-a-Service runtime"};
  app.set_version_flag("--version", "prfaas " PRFAAS_VERSION);
  app.require_subcommand(1);
  apps::cli_context ctx;
  apps::add_deployment_commands(app, ctx);
  apps::add_model_commands(app, ctx);
  apps::add_request_commands(app, ctx);
  apps::add_operator_commands(app, ctx);
  // Listed in the help; a command line that names one never reaches the parser (above).
  for (const auto& [name, what] : apps::bench_command_names()) app.add_subcommand(name, what)->allow_extras();
  return apps::run_command_line(app, ctx, argc, argv);
}
