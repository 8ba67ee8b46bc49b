#pragma once
// The prfaas CLI's command groups, one file each: prfaas_cli.cpp adds every group to one
// CLI11 app; the subcommand given sets `run`, which main calls once parsing succeeded.

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
void add_bench_commands(CLI::App& app, cli_context& ctx);       // bench ..., netem up, plan, sim

}  // namespace prfaas::apps
