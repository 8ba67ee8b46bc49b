#include "actors/client_door.hpp"

#include <caf/all.hpp>

#include <unordered_map>
#include <vector>

#include "actors/actor_plane.hpp"
#include "actors/interfaces.hpp"
#include "actors/outbox.hpp"

namespace prfaas::actors {
namespace {

// A request waiting for the router's answer, and who asked (watched while it waits).
struct waiter {
  caf::response_promise promise;
  caf::actor_addr caller;
};

struct door_state {
  uint64_t next_ticket = 1;  // first: a handle first would make the state look constructible from its actor
  router_actor router;
  size_t max_waiting = kMaxDoorWaiting;
  bool asked = false;  // since the last idle check
  std::chrono::milliseconds idle_close = kDoorIdleClose;
  std::unordered_map<uint64_t, waiter> waiting;            // by ticket
  std::unordered_map<caf::actor_addr, size_t> callers;     // monitored, with their tickets waiting
  outbox<std::vector<submission>> out;                     // this round's requests
  static inline const char* name = "client_door";
};

using door_self = client_door_actor::stateful_base<door_state>;

// A caller's ticket is answered: a caller waiting for nothing more is no longer watched.
void settled(door_self* self, const caf::actor_addr& caller) {
  auto& st = self->state;
  auto it = st.callers.find(caller);
  if (it == st.callers.end() || --it->second > 0) return;
  self->demonitor(caller);
  st.callers.erase(it);
}

// A caller went (its timeout passed, its thread gave up, its process part ended) before its
// answers came: the router hears its tickets, as it hears a requester of its own go down, and
// ends their requests unless a retry joins them within its grace.
void caller_gone(door_self* self, const caf::actor_addr& caller) {
  auto& st = self->state;
  if (!st.callers.erase(caller)) return;
  std::vector<uint64_t> tickets;
  for (auto it = st.waiting.begin(); it != st.waiting.end();) {
    if (it->second.caller != caller) {
      ++it;
      continue;
    }
    tickets.push_back(it->first);
    it = st.waiting.erase(it);
  }
  if (!tickets.empty()) self->send(st.router, atoms::orphan_atom::value, std::move(tickets));
}

void send_round(door_self* self) {
  auto& st = self->state;
  st.out.flushed();
  if (auto round = st.out.take()) self->send(st.router, std::move(*round));
}

client_door_actor::behavior_type door(door_self* self, caf::actor router, size_t max_waiting,
                                      std::chrono::milliseconds idle_close) {
  self->state.router = caf::actor_cast<router_actor>(router);
  self->state.max_waiting = max_waiting;
  self->state.idle_close = idle_close;
  self->monitor(router);
  ignore_stray_errors(self);
  self->delayed_send(self, idle_close, atoms::tick_atom::value);
  self->set_down_handler([=](caf::down_msg& msg) {
    if (msg.source != self->state.router.address()) return caller_gone(self, msg.source);
    for (auto& [ticket, w] : std::exchange(self->state.waiting, {}))
      w.promise.deliver(caf::make_error(errc::unreachable, "the router went away before it answered: send again"));
    self->quit();
  });
  return {
      [=](generate_request& req) -> caf::result<generate_result> {
        auto& st = self->state;
        if (st.waiting.size() >= st.max_waiting)
          return caf::make_error(errc::no_capacity, "this process's door to the router holds " +
                                                        std::to_string(st.max_waiting) + " requests waiting already");
        st.asked = true;
        const uint64_t ticket = st.next_ticket++;
        const auto caller = caf::actor_cast<caf::actor_addr>(self->current_sender());  // none: anonymous
        if (caller && st.callers[caller]++ == 0) self->monitor(caller);
        auto rp = self->make_response_promise();
        st.waiting.emplace(ticket, waiter{rp, caller});
        st.out.add(self).push_back(submission{ticket, std::move(req)});
        return rp;
      },
      [=](std::vector<door_answer>& answers) {
        auto& st = self->state;
        if (caf::actor_cast<caf::actor_addr>(self->current_sender()) != st.router.address()) return;  // its router only
        for (auto& a : answers) {
          auto it = st.waiting.find(a.ticket);
          if (it == st.waiting.end()) continue;  // its caller went, or a stranger's ticket
          if (a.error) it->second.promise.deliver(std::move(a.error));
          else it->second.promise.deliver(std::move(a.result));
          const auto caller = it->second.caller;
          st.waiting.erase(it);
          if (caller) settled(self, caller);
        }
      },
      [=](atoms::flush_atom) { send_round(self); },
      [=](atoms::tick_atom) {
        auto& st = self->state;
        if (self->current_sender() != self->ctrl()) return;
        if (!st.asked && st.waiting.empty()) return self->quit();
        st.asked = false;
        self->delayed_send(self, idle_close, atoms::tick_atom::value);
      },
  };
}

}  // namespace

caf::actor open_door(caf::actor_system& sys, const caf::actor& router, size_t max_waiting,
                     std::chrono::milliseconds idle_close) {
  return caf::actor_cast<caf::actor>(sys.spawn(door, router, max_waiting, idle_close));
}

}  // namespace prfaas::actors
