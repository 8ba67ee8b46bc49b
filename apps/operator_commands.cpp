// prfaas chaos, link set and node convert: an operator acting on a running deployment (the
// operator certificate of its state directory).
//
//   prfaas chaos kill|stop|cont|term NODE... [--state DIR]   faults against a running deployment
//   prfaas chaos link cut|restore [--state DIR]               partition the inter-cluster link, or heal it
//   prfaas chaos link rate --gbps X [--state DIR]            collapse (or raise) its rate
//   prfaas link set --gbps X                                 the same, as an operator's setting
//   prfaas node convert NAME --to prefill|decode             a local node's role, in place

#include <caf/all.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "apps/commands.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;

// Sends a node of the running deployment a fault: kill (SIGKILL: dies, `up` restarts it), stop
// (SIGSTOP: hangs until cont), cont (SIGCONT), term (SIGTERM: drains and leaves).
// The emulated PrfaaS -> local link: cut, restore, or rate (X Gbps in all).
int cmd_chaos_link(const client_access& access, const std::vector<std::string>& args, double gbps) {
  const auto& state_dir = access.state_dir;
  if (args.size() != 1 || (args[0] != "cut" && args[0] != "restore" && args[0] != "rate"))
    throw cli_error{"usage: prfaas chaos link cut|restore|rate [--gbps X]"};
  if (args[0] == "rate" && !(gbps > 0)) throw cli_error{"prfaas chaos link rate needs --gbps X (X > 0)"};
  client_system client(config::deployment_config{}, client_tls(access, "operator"));
  auto router = connect(client.sys, router_address("", state_dir), 3);
  auto n = actors::link_control(client.sys, router, args[0], gbps);
  if (!n) throw cli_error{actors::describe(n.error())};
  std::cout << "prfaas chaos: link " << args[0];
  if (args[0] == "rate") std::cout << " " << gbps << " Gbps";
  std::cout << " (" << *n << " PrfaaS prefill nodes)" << std::endl;
  return 0;
}

int cmd_chaos(const client_access& access, const std::string& action, const std::vector<std::string>& names,
              double gbps) {
  if (action == "link") return cmd_chaos_link(access, names, gbps);
  const auto& state_dir = access.state_dir;
  if (names.empty()) throw cli_error{"prfaas chaos " + action + " needs at least one node name"};
  static const std::map<std::string, int> signals = {
      {"kill", SIGKILL}, {"stop", SIGSTOP}, {"cont", SIGCONT}, {"term", SIGTERM}};
  const auto sig = signals.find(action);
  if (sig == signals.end()) throw cli_error{"unknown fault '" + action + "' (expected kill, stop, cont, term or link)"};
  const auto st = read_state(state_dir);
  for (const auto& name : names) {
    int pid = -1;
    for (const auto& n : st.at("nodes"))
      if (n.at("name") == name) pid = n.at("pid").get<int>();
    if (pid <= 0) throw cli_error{"no running node named '" + name + "' in " + state_dir};
    if (::kill(pid, sig->second) != 0) throw cli_error{"cannot signal " + name + " (pid " + std::to_string(pid) + ")"};
    std::cout << "prfaas chaos: " << action << " " << name << " (pid " << pid << ")" << std::endl;
  }
  return 0;
}

}  // namespace

void add_operator_commands(CLI::App& app, cli_context& ctx) {
  auto* link = app.add_subcommand("link", "the running deployment's emulated inter-cluster link");
  link->require_subcommand(1);
  auto* link_set = link->add_subcommand("set", "change the link's rate now (a bandwidth collapse, or its end)");
  auto& link_gbps = ctx.hold<double>();
  link_set->add_option("--gbps", link_gbps, "the whole link's new rate")->required()->check(CLI::Range(1e-6, 1e4));
  link_set->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  add_access_options(link_set, ctx.access);
  link_set->callback([&ctx, gbps = &link_gbps] { ctx.run = [&ctx, gbps] { return cmd_chaos_link(ctx.access, {"rate"}, *gbps); }; });

  struct convert_options {
    std::string name, to;
  };
  auto& cv = ctx.hold<convert_options>();
  auto* node_cmd = app.add_subcommand("node", "act on one node of the running deployment");
  node_cmd->require_subcommand(1);
  auto* convert = node_cmd->add_subcommand("convert", "change a local node's role between prefill and decode, in place");
  convert->add_option("name", cv.name, "the node (prfaas status lists them)")->required();
  convert->add_option("--to", cv.to, "prefill | decode")->required()->check(CLI::IsMember({"prefill", "decode"}));
  convert->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  add_access_options(convert, ctx.access);
  convert->callback([&ctx, o = &cv] {
    ctx.run = [&ctx, o] {
      client_system client(config::deployment_config{}, client_tls(ctx.access, "operator"));
      auto router = connect(client.sys, router_address("", ctx.state_dir), 3);
      const auto started = std::chrono::steady_clock::now();
      auto r = actors::convert_node(client.sys, router, o->name, o->to, std::chrono::minutes(5));
      if (!r) throw cli_error{actors::describe(r.error())};
      std::printf("%s now serves as a %s node (%.0f ms, drain included)\n", o->name.c_str(), o->to.c_str(),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
      return 0;
    };
  });

  struct chaos_options {
    std::string action;
    std::vector<std::string> nodes;
    double gbps = 0;
  };
  auto& co = ctx.hold<chaos_options>();
  auto* chaos = app.add_subcommand("chaos", "inject a fault into a running deployment's node");
  chaos->add_option("action", co.action, "kill | stop | cont | term | link")->required();
  chaos->add_option("nodes", co.nodes, "node names (prfaas status lists them); for link: cut | restore | rate");
  chaos->add_option("--gbps", co.gbps, "link rate: the new rate of the whole inter-cluster link");
  chaos->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  add_access_options(chaos, ctx.access);
  chaos->callback([&ctx, o = &co] { ctx.run = [&ctx, o] { return cmd_chaos(ctx.access, o->action, o->nodes, o->gbps); }; });
}

}  // namespace prfaas::apps
