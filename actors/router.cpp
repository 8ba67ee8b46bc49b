// Router role: owns every in-flight request's state machine and deadline.
//
//   generate_request
//        |  check_request (prompt within context)
//        v
//   [routing] --match_atom--> cache directory (none registered: 0 cached tokens)
//        |  policy::route (threshold t, least loaded nodes)
//        v
//   [reserving] --decode_job--> decode node (sequence and KV blocks reserved, receiver armed)
//        v
//   [prefilling] --prefill_job--> prefill node (KV streams to the decode node layer by layer)
//        v                             decode_started marks the first token (TTFT)
//   [decoding] <--decode_result-- decode node
//        v
//   [done] -> reply to the client
//
// Any failure (a node down, a transport error, the deadline) ends the request with an error
// that names the cause, and the nodes still holding it are told to drop it.

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "runtime/cluster/node_registry.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"
#include "runtime/policy/route.h"

namespace prfaas::actors {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

struct request_state {
  caf::response_promise reply;
  std::vector<int32_t> prompt;
  int max_tokens = 0;
  clock_type::time_point accepted;
  policy::prefill_path path = policy::prefill_path::local;
  std::string prefill_node, decode_node;
  double ttft_ms = 0;
  int64_t kv_bytes = 0;
};

struct router_state {
  config::deployment_config config;
  cluster::node_registry registry{""};
  std::map<std::string, caf::actor> handles;
  std::map<caf::actor_addr, std::string> names;
  std::map<uint64_t, request_state> requests;
  uint64_t next_request = 1;
  int64_t completed = 0, failed = 0;
  std::map<std::string, link_report> links;   // latest report per prefill node
  clock_type::time_point last_egress_log{};
  static inline const char* name = "router";
};

using router_actor = caf::stateful_actor<router_state>;

// PrfaaS cluster egress: the latest reports of its prefill nodes, summed.
double prfaas_egress_gbps(const std::map<std::string, link_report>& links) {
  double egress = 0;
  for (const auto& [name, l] : links)
    if (l.prfaas) egress += l.egress_gbps;
  return egress;
}

caf::error to_error(const failure& f) { return caf::make_error(f.code(), std::string(f.what())); }

void finish(router_actor* self, uint64_t id, caf::error err) {
  auto& st = self->state;
  auto it = st.requests.find(id);
  if (it == st.requests.end()) return;
  request_state& r = it->second;
  spdlog::warn("router: request {} failed: {}", id, describe(err));
  // The decode node may still hold a reserved sequence: let it go.
  if (!r.decode_node.empty())
    if (auto h = st.handles.find(r.decode_node); h != st.handles.end())
      self->send(h->second, atoms::abort_atom::value, id);
  st.registry.release(r.prefill_node, id);
  st.registry.release(r.decode_node, id);
  r.reply.deliver(std::move(err));
  st.requests.erase(it);
  ++st.failed;
}

void node_lost(router_actor* self, const std::string& name, const std::string& why) {
  auto& st = self->state;
  const auto* rec = st.registry.find(name);
  const std::string role = rec ? cluster::to_string(rec->role) : "node";
  for (uint64_t id : st.registry.remove(name))
    finish(self, id, caf::make_error(errc::node_lost, role + " node " + name + " lost (" + why + ")"));
  st.handles.erase(name);
  st.links.erase(name);
  spdlog::warn("router: {} node {} lost ({})", role, name, why);
}

void start_prefill(router_actor* self, uint64_t id) {
  auto& st = self->state;
  auto& r = st.requests.at(id);
  const auto* decode = st.registry.find(r.decode_node);
  prefill_job job{id, r.prompt, decode->data_endpoint};
  const auto timeout = std::chrono::milliseconds(st.config.router.deadline_ms);
  self->request(st.handles.at(r.prefill_node), timeout, std::move(job))
      .then(
          [=](const prefill_report&) {
            // The prefill node is free again; the request itself completes with the decode node.
            auto it = self->state.requests.find(id);
            if (it == self->state.requests.end()) return;
            self->state.registry.release(it->second.prefill_node, id);
          },
          [=](caf::error& err) { finish(self, id, std::move(err)); });
}

void dispatch(router_actor* self, uint64_t id, int cached_local) {
  auto& st = self->state;
  auto it = st.requests.find(id);
  if (it == st.requests.end()) return;
  request_state& r = it->second;
  const auto prefills = st.registry.prefill_nodes();
  const auto decodes = st.registry.decode_nodes();
  const auto pc = cluster::node_registry::prefill_candidates(prefills);
  const auto dc = cluster::node_registry::decode_candidates(decodes);
  const policy::route_request rq{static_cast<int>(r.prompt.size()), cached_local,
                                 st.config.router.threshold_tokens};
  const auto decision = policy::route(rq, pc, dc);
  if (!decision) {
    finish(self, id, caf::make_error(errc::no_capacity,
                                     prefills.empty() ? "no prefill node is registered"
                                                      : "no decode node with room is registered"));
    return;
  }
  r.path = decision->path;
  r.prefill_node = prefills[decision->prefill]->name;
  r.decode_node = decodes[decision->decode]->name;
  st.registry.assign(r.prefill_node, id);
  st.registry.assign(r.decode_node, id);
  spdlog::info("router: request {} ({} tokens) -> {} prefill {} -> decode {}", id, r.prompt.size(),
               policy::to_string(r.path), r.prefill_node, r.decode_node);
  decode_job job{id, static_cast<int32_t>(r.prompt.size()), r.max_tokens};
  self->request(st.handles.at(r.decode_node), std::chrono::seconds(5), job)
      .then([=](caf::ok_atom) { if (self->state.requests.count(id)) start_prefill(self, id); },
            [=](caf::error& err) { finish(self, id, std::move(err)); });
}

caf::behavior router(router_actor* self, config::deployment_config config) {
  self->state.config = config;
  self->state.registry = cluster::node_registry(config.model.fingerprint());
  self->set_down_handler([=](caf::down_msg& msg) {
    auto it = self->state.names.find(msg.source);
    if (it == self->state.names.end()) return;
    const std::string name = it->second;
    self->state.names.erase(it);
    // A restarted node re-registers under its name with a new handle: ignore its old one.
    auto h = self->state.handles.find(name);
    if (h != self->state.handles.end() && h->second.address() == msg.source)
      node_lost(self, name, caf::to_string(msg.reason));
  });
  return {
      [=](atoms::register_atom, node_info info, caf::actor handle) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        try {
          cluster::node_record rec{info.name, cluster::parse_role(info.role), info.cluster,
                                   info.prfaas, info.data_endpoint, info.capacity, {}, 0};
          const auto lost = st.registry.add(std::move(rec), info.model);
          for (uint64_t id : lost)
            finish(self, id, caf::make_error(errc::node_lost, info.role + " node " + info.name + " restarted"));
        } catch (const failure& f) {
          spdlog::error("router: refused node {}: {}", info.name, f.what());
          return to_error(f);
        }
        self->monitor(handle);
        st.names[handle.address()] = info.name;
        st.handles[info.name] = handle;
        spdlog::info("router: registered {} node {} (cluster {})", info.role, info.name, info.cluster);
        return caf::ok_atom::value;
      },
      [=](atoms::heartbeat_atom, const std::string& name, int32_t) {
        self->state.registry.heartbeat(
            name, std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count());
      },
      [=](generate_request& req) -> caf::result<generate_result> {
        auto& st = self->state;
        auto prompt = model::encode(req.prompt);
        try {
          model::check_request(st.config.model, prompt.size(), req.max_tokens);
        } catch (const failure& f) {
          return to_error(f);
        }
        if (static_cast<int>(st.requests.size()) >= st.config.router.max_in_flight)
          return caf::make_error(errc::no_capacity, "the router holds its maximum of " +
                                                        std::to_string(st.config.router.max_in_flight) +
                                                        " requests in flight");
        const uint64_t id = st.next_request++;
        request_state r;
        r.reply = self->make_response_promise();
        r.prompt = std::move(prompt);
        r.max_tokens = req.max_tokens;
        r.accepted = clock_type::now();
        auto rp = r.reply;
        st.requests.emplace(id, std::move(r));
        const int deadline_ms = req.deadline_ms > 0 ? req.deadline_ms : st.config.router.deadline_ms;
        self->delayed_send(self, std::chrono::milliseconds(deadline_ms), atoms::deadline_atom::value, id);
        const auto dirs = st.registry.of_role(cluster::node_role::cache_directory);
        if (dirs.empty()) {
          dispatch(self, id, 0);
        } else {
          const auto& local = st.config.deployment.local_cluster;
          self->request(st.handles.at(dirs.front()->name), std::chrono::seconds(1), atoms::match_atom::value,
                        local, st.requests.at(id).prompt)
              .then([=](int32_t cached) { dispatch(self, id, cached); },
                    [=](caf::error& err) {
                      spdlog::warn("router: cache directory did not answer ({}); assuming no hit", describe(err));
                      dispatch(self, id, 0);
                    });
        }
        return rp;
      },
      [=](const link_report& m) {
        auto& st = self->state;
        st.links[m.node] = m;
        const double egress = prfaas_egress_gbps(st.links);
        // While KV crosses the link, say once a second how busy the link is.
        const auto now = clock_type::now();
        if (egress > 0 && now - st.last_egress_log >= std::chrono::seconds(1)) {
          st.last_egress_log = now;
          const double cap = st.config.transport.link_gbps;
          if (cap > 0)
            spdlog::info("router: PrfaaS egress {:.3f} Gbps of {:.3f} Gbps link ({:.1f} % utilised)", egress, cap,
                         100 * egress / cap);
          else
            spdlog::info("router: PrfaaS egress {:.3f} Gbps", egress);
        }
      },
      [=](const decode_started& m) {
        auto it = self->state.requests.find(m.request);
        if (it == self->state.requests.end()) return;
        it->second.ttft_ms = ms_since(it->second.accepted);
        it->second.kv_bytes = m.kv_bytes;
      },
      [=](decode_result& m) {
        auto& st = self->state;
        auto it = st.requests.find(m.request);
        if (it == st.requests.end()) return;
        request_state& r = it->second;
        generate_result out;
        out.request = m.request;
        out.tokens = std::move(m.tokens);
        out.path = policy::to_string(r.path);
        out.prefill_node = r.prefill_node;
        out.decode_node = r.decode_node;
        out.ttft_ms = r.ttft_ms;
        out.total_ms = ms_since(r.accepted);
        out.tokens_per_s = m.decode_ms > 0 ? (out.tokens.size() - 1) * 1000.0 / m.decode_ms : 0;
        out.kv_bytes = r.kv_bytes;
        st.registry.release(r.prefill_node, m.request);
        st.registry.release(r.decode_node, m.request);
        r.reply.deliver(std::move(out));
        st.requests.erase(it);
        ++st.completed;
      },
      [=](const decode_failed& m) {
        finish(self, m.request, caf::make_error(errc::transport_failed, m.error));
      },
      [=](atoms::deadline_atom, uint64_t id) {
        auto it = self->state.requests.find(id);
        if (it == self->state.requests.end()) return;
        finish(self, id, caf::make_error(errc::deadline_exceeded,
                                         "request " + std::to_string(id) + " passed its deadline after " +
                                             std::to_string(static_cast<int>(ms_since(it->second.accepted))) + " ms"));
      },
      [=](atoms::status_atom) -> router_status {
        auto& st = self->state;
        router_status s;
        for (const auto role : {cluster::node_role::cache_directory, cluster::node_role::prefill,
                                cluster::node_role::decode})
          for (const auto* n : st.registry.of_role(role))
            s.nodes.push_back(node_info{n->name, cluster::to_string(n->role), n->cluster, n->prfaas,
                                        n->data_endpoint, st.registry.model_fingerprint(), n->capacity});
        for (const auto& [name, l] : st.links) s.links.push_back(l);
        s.prfaas_egress_gbps = prfaas_egress_gbps(st.links);
        s.link_gbps = st.config.transport.link_gbps;
        s.completed = st.completed;
        s.failed = st.failed;
        s.in_flight = static_cast<int64_t>(st.requests.size());
        return s;
      },
  };
}

}  // namespace

caf::actor spawn_router(caf::actor_system& sys, const config::deployment_config& config) {
  return sys.spawn(router, config);
}

}  // namespace prfaas::actors
