#include "actors/client.hpp"

#include "actors/actor_plane.hpp"
#include "actors/client_door.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <cstdio>
#include <random>
#include <thread>

namespace prfaas::actors {

caf::expected<caf::actor> connect_router(caf::actor_system& sys, const router_locator& router, int attempts,
                                         std::chrono::milliseconds delay) {
  std::string last;
  for (int i = 0; i < attempts; ++i) {
    try {
      const endpoint at = router.current();
      auto h = remote_actor(sys, at.host, at.port);
      if (h) return *h;
      last = at.str() + ": " + sys.render(h.error());
    } catch (const failure& f) {
      last = f.what();
    }
    if (i + 1 < attempts) std::this_thread::sleep_for(delay);
  }
  return caf::make_error(errc::unreachable, "cannot reach the router at " + router.str() + " after " +
                                                std::to_string(attempts) + " attempts (" + last + ")");
}

namespace {

// One request and its answer, CAF's own errors (a timeout, a lost peer) left as they are.
caf::expected<generate_result> ask(caf::actor_system& sys, const caf::actor& router, const generate_request& request,
                                   std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<generate_result> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, timeout, request)
      .receive([&](generate_result& r) { out = std::move(r); }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

// 128 random bits: only the client that made it can join or cancel its request.
std::string new_client_id() {
  std::random_device rd;
  char id[33];
  std::snprintf(id, sizeof id, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return id;
}

}  // namespace

caf::expected<generate_result> generate(caf::actor_system& sys, const caf::actor& router,
                                        const generate_request& request, std::chrono::milliseconds timeout) {
  auto out = ask(sys, router, request, timeout);
  if (!out && out.error() == caf::sec::request_timeout)
    return caf::make_error(errc::deadline_exceeded,
                           "no reply from the router within " + std::to_string(timeout.count()) + " ms");
  return out;
}

caf::expected<generate_result> generate_streaming(caf::actor_system& sys, const caf::actor& router,
                                                  generate_request request,
                                                  const std::function<bool(const std::vector<int32_t>&)>& on_tokens,
                                                  std::chrono::milliseconds timeout) {
  if (request.client_id.empty()) request.client_id = new_client_id();
  caf::scoped_actor self{sys};
  request.stream = caf::actor{self};
  // A plain send: the router's answer comes back as an ordinary message, among the chunks.
  self->send(router, request);
  std::vector<int32_t> seen;  // the output so far, in order
  auto deliver = [&](const std::vector<int32_t>& output, size_t offset) {
    if (offset > seen.size() || offset + output.size() <= seen.size()) return true;  // a gap, or nothing new
    std::vector<int32_t> fresh(output.begin() + static_cast<std::ptrdiff_t>(seen.size() - offset), output.end());
    seen.insert(seen.end(), fresh.begin(), fresh.end());
    return on_tokens(fresh);
  };
  caf::expected<generate_result> out{caf::make_error(errc::deadline_exceeded,
                                                     "no reply from the router within " + std::to_string(timeout.count()) + " ms")};
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (bool done = false; !done;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    self->receive(
        [&](token_chunk& c) {
          if (!deliver(c.tokens, static_cast<size_t>(std::max(0, c.offset)))) {
            self->send(router, atoms::cancel_atom::value, request.client_id);
            out = caf::make_error(errc::cancelled, "the client went away");
            done = true;
          }
        },
        [&](generate_result& r) {
          if (deliver(r.tokens, 0)) out = std::move(r);
          else out = caf::make_error(errc::cancelled, "the client went away");
          done = true;
        },
        [&](caf::error& err) {
          out = std::move(err);
          done = true;
        },
        caf::after(left) >> [&] { done = true; });
  }
  return out;
}

void cancel(caf::actor_system& sys, const router_locator& router_at, const std::string& client_id) {
  // From an actor, not anonymously: the router checks the sender's certificate against the
  // request's submitter.
  if (auto router = connect_router(sys, router_at, 1)) {
    caf::scoped_actor self{sys};
    self->send(*router, atoms::cancel_atom::value, client_id);
  }
}

caf::actor door_keeper::door_for(caf::actor_system& sys, const caf::actor& router) {
  std::lock_guard lock(mutex_);
  if (router.address() != router_) {
    router_ = router.address();
    door_ = open_door(sys, router);
  }
  return door_;
}

void door_keeper::forget(const caf::actor& door) {
  std::lock_guard lock(mutex_);
  if (door_ != door) return;
  door_ = nullptr;
  router_ = caf::actor_addr{};
}

caf::expected<generate_result> generate_retrying(caf::actor_system& sys, const router_locator& router_at,
                                                 generate_request request, std::chrono::milliseconds budget,
                                                 door_keeper* doors) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + budget;
  // The request's own deadline counts from the first send; each retry carries what is left.
  const int32_t own_ms = request.deadline_ms;
  const auto own_deadline = clock::now() + std::chrono::milliseconds(own_ms);
  if (request.client_id.empty()) request.client_id = new_client_id();
  std::string last = "no attempt";
  caf::actor router;
  for (int tries = 0; clock::now() < deadline; ++tries) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (!router) {
      auto h = connect_router(sys, router_at, 1);
      if (!h) {
        last = describe(h.error());
        std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
        continue;
      }
      router = *h;
    }
    if (own_ms > 0)
      request.deadline_ms = static_cast<int32_t>(std::max<long>(
          1, std::chrono::duration_cast<std::chrono::milliseconds>(own_deadline - clock::now()).count()));
    const caf::actor to = doors ? doors->door_for(sys, router) : router;
    auto r = ask(sys, to, request, std::min(left, std::chrono::milliseconds(1000)));
    if (r) return r;
    const auto& err = r.error();
    // The router's own verdict on the request is final; silence or a lost router is not.
    if (err.category() == caf::atom("prfaas") && static_cast<errc>(err.code()) != errc::unreachable) return r;
    if (doors && err != caf::sec::request_timeout) doors->forget(to);  // it, or its router, went
    last = describe(err);
    // Look the router up again: the same one while its connection holds, a restarted one at
    // the same address once the old connection is gone, or the new leader.
    router = nullptr;
  }
  return caf::make_error(errc::deadline_exceeded, "no answer within " + std::to_string(budget.count()) +
                                                      " ms (last: " + last + ")");
}

caf::expected<router_status> status(caf::actor_system& sys, const caf::actor& router,
                                    std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<router_status> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, timeout, atoms::status_atom::value)
      .receive([&](router_status& s) { out = std::move(s); }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

namespace {
// One request to the router and its one answer of type T.
template <class T, class... Ts>
caf::expected<T> ask_router(caf::actor_system& sys, const caf::actor& router, std::chrono::milliseconds timeout,
                            Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = std::move(err); });
  return out;
}
}  // namespace

caf::expected<std::string> router_metrics(caf::actor_system& sys, const caf::actor& router,
                                          std::chrono::milliseconds timeout) {
  return ask_router<std::string>(sys, router, timeout, atoms::metrics_atom::value);
}

caf::expected<sched::timeline> trace(caf::actor_system& sys, const caf::actor& router, uint64_t request,
                                     std::chrono::milliseconds timeout) {
  return ask_router<sched::timeline>(sys, router, timeout, atoms::trace_atom::value, request);
}

caf::expected<int32_t> link_control(caf::actor_system& sys, const caf::actor& router, const std::string& action,
                                    double gbps) {
  caf::scoped_actor self{sys};
  caf::expected<int32_t> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, std::chrono::seconds(5), atoms::link_atom::value, action, gbps)
      .receive([&](int32_t n) { out = n; }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::expected<int32_t> convert_node(caf::actor_system& sys, const caf::actor& router, const std::string& name,
                                    const std::string& role, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<int32_t> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, timeout, atoms::convert_atom::value, name, role)
      .receive([&](int32_t n) { out = n; }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

}  // namespace prfaas::actors
