// prfaas: the command line.  Each group of commands lives in a file of its own (apps/commands.h):
//
//   deployment_commands.cpp   up, down, status, demo, certs
//   request_commands.cpp      generate, trace, metrics, replay, check
//   operator_commands.cpp     chaos, link set, node convert
//   model_commands.cpp        model init
//   bench_commands.cpp        bench ..., netem up, plan, sim
//
// Exit status: 0 success, 1 an operating error (the message names the cause), 2 bad usage.

#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/commands.h"
#include "runtime/common/errc.h"

using namespace prfaas;

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"prfaas: Prefill-as-a-Service runtime"};
  app.set_version_flag("--version", "prfaas " PRFAAS_VERSION);
  app.require_subcommand(1);
  apps::cli_context ctx;
  apps::add_deployment_commands(app, ctx);
  apps::add_model_commands(app, ctx);
  apps::add_request_commands(app, ctx);
  apps::add_operator_commands(app, ctx);
  apps::add_bench_commands(app, ctx);
  // Usage errors exit 2 (help and version 0), whatever CLI11's own code for the error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!ctx.run) return 2;
  ctx.access.state_dir = ctx.state_dir;
  try {
    return ctx.run();
  } catch (const apps::cli_error& e) {
    std::cerr << "prfaas: error: " << e.message << std::endl;
    return 1;
  } catch (const failure& f) {
    std::cerr << "prfaas: error: " << to_string(f.code()) << ": " << f.what() << std::endl;
    return 1;
  }
}
