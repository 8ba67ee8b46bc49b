#include "actors/system_config.hpp"

#include <caf/io/all.hpp>

#include <algorithm>
#include <caf/openssl/manager.hpp>

#include "actors/messages.hpp"

namespace prfaas::actors {

system_config::system_config(const config::router_config& timing, size_t scheduler_threads, const tls_files& tls) {
  add_message_types<caf::id_block::prfaas>();
  add_error_category(caf::atom("prfaas"), [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    return describe(caf::error{code, caf::atom("prfaas"), ctx});
  });
  load<caf::io::middleman>();
  if (tls.enabled()) {
    if (!openssl_error_queue_fixed()) throw failure(errc::internal, "TLS without the OpenSSL error-queue fix");
    load<caf::openssl::manager>();
    set_basp_limit(static_cast<uint64_t>(timing.max_message_mib) << 20);
    openssl_cafile = tls.ca;
    openssl_certificate = tls.certificate;
    openssl_key = tls.key;
  }
  set("scheduler.policy", caf::atom("sharing"));
  set("scheduler.max-threads", scheduler_threads);
  // CAF's own heartbeat keeps each connection proven alive within the connection timeout, and
  // is a node's liveness (the router monitors each role actor): three a timeout are enough.
  // At heartbeat_ms on every connection, idle deployments spent most of their CPU on it.
  const int basp_heartbeat_ms = std::max(timing.heartbeat_ms, timing.node_timeout_ms / 3);
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(basp_heartbeat_ms)});
  set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(timing.node_timeout_ms)});
  // No CAF console noise: prfaas logs through spdlog.
  set("logger.console", caf::atom("none"));
}

std::string error_words(const caf::error& err) {
  std::string text;
  const auto& ctx = err.context();
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx.match_element<std::string>(i)) text += (text.empty() ? "" : ": ") + ctx.get_as<std::string>(i);
  return text;
}

std::string describe(const caf::error& err) {
  if (!err) return "no error";
  std::string text;
  if (err.category() == caf::atom("prfaas"))
    text = to_string(static_cast<prfaas::errc>(err.code()));
  else
    text = caf::to_string(err.category()) + " error " + std::to_string(err.code());
  const auto& ctx = err.context();
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx.match_element<std::string>(i)) text += ": " + ctx.get_as<std::string>(i);
  if (err.category() != caf::atom("prfaas") && ctx.empty()) {
    if (err.category() == caf::atom("system"))
      text += " (" + caf::to_string(static_cast<caf::sec>(err.code())) + ")";
  }
  return text;
}

}  // namespace prfaas::actors
