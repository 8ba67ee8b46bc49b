#include "actors/kv_plane.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "runtime/kv/kv_layout.h"

namespace prfaas::actors {

transport::link_options link_options_for(const config::deployment_config& config, const std::string& name,
                                         const worker_context& context) {
  const auto& t = config.transport;
  transport::link_options lo;
  lo.name = name;
  lo.secret = context.secret;
  lo.faults = context.faults;
  lo.connections = t.connections;
  lo.max_connections = t.max_connections;
  lo.kernel_pacing_gbps = t.kernel_pacing_gbps;
  lo.max_inflight_bytes = static_cast<size_t>(t.max_inflight_mib) << 20;
  lo.receive_timeout = std::chrono::milliseconds(t.receive_timeout_ms);
  lo.resume_timeout = std::chrono::milliseconds(t.resume_timeout_ms);
  lo.encrypt = t.encrypt;
  lo.layout = kv::layout_descriptor(config.model.kv_layout());
  return lo;
}

transport::transfer_registry::event_sink kv_events_to(caf::actor_addr role) {
  return [role](const transport::transfer_event& e) {
    if (auto h = caf::actor_cast<caf::actor>(role)) {
      kv_event out;
      out.request = e.request;
      out.kind = static_cast<int32_t>(e.kind);
      out.first_token = e.first_token;
      out.first_payload_ns = e.first_payload.time_since_epoch().count();
      out.code = e.code;
      out.error = e.error;
      if (e.first_logprobs) {
        out.has_first_logprobs = true;
        out.first_logprobs = *e.first_logprobs;
      }
      caf::anon_send(h, std::move(out));
    }
  };
}

transport::receiver_options receiver_options_for(const config::deployment_config& config, const std::string& secret) {
  transport::receiver_options ro;
  ro.secret = secret;
  ro.require_encryption = config.transport.encrypt;
  ro.layout = kv::layout_descriptor(config.model.kv_layout());
  ro.receive_timeout = std::chrono::milliseconds(config.transport.receive_timeout_ms);
  // The receiver waits a little longer than the sender tries, so a resume in time finds it.
  ro.resume_window = std::chrono::milliseconds(config.transport.resume_timeout_ms + config.transport.receive_timeout_ms);
  return ro;
}

}  // namespace prfaas::actors
