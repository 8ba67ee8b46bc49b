// prfaas-bench: the prfaas commands that load, measure, emulate and model (bench ..., netem up,
// plan, sim, replay; apps/bench_commands.cpp), in a binary of their own so that the deployment's
// binaries build without them.  `prfaas bench ...` runs it with the same arguments.

#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "apps/commands.h"

using namespace prfaas;

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"prfaas: Prefill-as-a-Service runtime: benchmarks, emulation, planning, simulation, replay"};
  app.name("prfaas");  // its usage lines read as `prfaas bench ...`, the way users run it
  app.set_version_flag("--version", "prfaas " PRFAAS_VERSION);
  app.require_subcommand(1);
  apps::cli_context ctx;
  apps::add_bench_commands(app, ctx);
  return apps::run_command_line(app, ctx, argc, argv);
}
