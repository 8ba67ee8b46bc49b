#pragma once
// The prfaas CLI's command groups, one file each.  Two binaries carry them: prfaas
// (prfaas_cli.cpp: the deployment, its requests, its operators, models) and prfaas-bench
// (prfaas_bench.cpp: the commands that load, measure, emulate and model), to which prfaas hands
// those commands over.  The subcommand given sets `run`, which run_command_line calls once
// parsing succeeded.

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/cli_support.h"

namespace prfaas::apps {

// What the commands share on the command line (--config, --state, --router, --json, ...).
struct cli_context {
  std::string config_path, state_dir = ".prfaas", router_flag, model_dir;
  bool as_json = false, insecure = false;
  client_access access;
  std::function<int()> run;  // the command given

  // Storage for a group's own options, alive until the process ends.
  template <class T>
  T& hold() {
    auto p = std::make_shared<T>();
    kept_.push_back(p);
    return *p;
  }

 private:
  std::vector<std::shared_ptr<void>> kept_;
};

void add_deployment_commands(CLI::App& app, cli_context& ctx);  // up, down, status, demo, certs
void add_request_commands(CLI::App& app, cli_context& ctx);     // generate, trace, metrics, replay, check
void add_operator_commands(CLI::App& app, cli_context& ctx);    // chaos, link set, node convert
void add_model_commands(CLI::App& app, cli_context& ctx);       // model init
void add_bench_commands(CLI::App& app, cli_context& ctx);       // bench ..., netem up, plan, sim, replay

// The commands add_bench_commands adds, and a line on each (prfaas lists them in its help).
const std::vector<std::pair<std::string, std::string>>& bench_command_names();

// A binary's main after its groups were added: parses, runs the command given, prints its
// error.  Exit status: 0 success, 1 an operating error (the message names the cause), 2 bad usage.
int run_command_line(CLI::App& app, cli_context& ctx, int argc, char** argv);

}  // namespace prfaas::apps
