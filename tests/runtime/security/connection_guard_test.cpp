// The connection guard bounds, per peer address and in all, the connections on a port that have
// not proven themselves, shuts down those sent nothing for its stall limit, and never touches a
// connection its owner holds (an HTTP request being answered), whose hang-up it reports.

#include <catch2/catch.hpp>

#include <thread>

#include "runtime/security/connection_guard.h"
#include "tests/support/flood.h"

using namespace prfaas;
using namespace prfaas::testing;
using namespace std::chrono_literals;

namespace {

// A listener on 127.0.0.1 whose accepted connections this process holds, as a server would.
struct server {
  transport::socket_fd listener = transport::listen_tcp({"127.0.0.1", 0}, 512);
  uint16_t port = transport::local_port(listener);
  std::vector<transport::socket_fd> accepted;
  void accept(size_t n) {
    for (size_t i = 0; i < n; ++i) accepted.push_back(transport::accept_tcp(listener));
  }
};

// "address:port" of the local end of `s` (the peer as the server sees it).
std::string local_name(const transport::socket_fd& s) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  char host[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
}

security::guard_options options() {
  security::guard_options o;
  o.stall_limit = 60s;  // not this test's subject unless it says so
  o.max_pending = 12;
  o.max_pending_per_peer = 4;
  o.established_after = 1 << 30;
  o.tick = 1h;  // the test looks itself
  return o;
}

}  // namespace

TEST_CASE("one address flooding fills only its own slots: the oldest of its connections beyond the bound are shut") {
  server srv;
  security::connection_guard guard(srv.port, options());
  std::vector<transport::socket_fd> flood, members;
  for (int i = 0; i < 20; ++i) flood.push_back(connect_from("127.0.0.2", srv.port));
  for (int i = 0; i < 3; ++i) members.push_back(connect_from("127.0.0.1", srv.port));
  srv.accept(23);
  guard.look();
  std::this_thread::sleep_for(50ms);
  CHECK(closed_count(flood) == 16);  // 20 beyond the 4 of that address
  CHECK(closed_count(members) == 0);
  for (int i = 0; i < 4; ++i) CHECK_FALSE(closed_by_peer(flood[16 + i]));  // the newest stay
  CHECK(guard.stats().shut_over_peer == 16);
  CHECK(guard.stats().pending == 7);
}

TEST_CASE("beyond the total bound the address holding the most loses its oldest first") {
  server srv;
  auto o = options();
  o.max_pending_per_peer = 8;
  o.max_pending = 10;
  security::connection_guard guard(srv.port, o);
  std::vector<transport::socket_fd> a, b;
  for (int i = 0; i < 8; ++i) a.push_back(connect_from("127.0.0.2", srv.port));
  for (int i = 0; i < 4; ++i) b.push_back(connect_from("127.0.0.3", srv.port));
  srv.accept(12);
  guard.look();
  std::this_thread::sleep_for(50ms);
  CHECK(closed_count(a) == 2);
  CHECK(closed_count(b) == 0);
  CHECK(closed_by_peer(a[0]));
  CHECK(closed_by_peer(a[1]));
  CHECK(guard.stats().shut_over_cap == 2);
}

TEST_CASE("a connection sent nothing for the stall limit is shut, one its owner holds is not, and its hang-up is seen") {
  server srv;
  auto o = options();
  o.stall_limit = 200ms;
  security::connection_guard guard(srv.port, o);
  auto idle = connect_from("127.0.0.1", srv.port);
  auto served = connect_from("127.0.0.1", srv.port);
  srv.accept(2);
  guard.hold(local_name(served));
  guard.look();
  std::this_thread::sleep_for(300ms);
  guard.look();
  std::this_thread::sleep_for(50ms);
  CHECK(closed_by_peer(idle));
  CHECK_FALSE(closed_by_peer(served));
  CHECK(guard.stats().shut_stalled == 1);
  CHECK_FALSE(guard.hung_up(local_name(served)));
  const std::string name = local_name(served);
  served.reset();  // the client goes away while its request is answered
  std::this_thread::sleep_for(50ms);
  guard.look();
  CHECK(guard.hung_up(name));
  guard.release(name);
  CHECK_FALSE(guard.hung_up(name));  // released: no longer the guard's concern
}

TEST_CASE("the guard's log lines are bounded: a flood's refusals beyond the budget are counted, not written") {
  server srv;
  auto o = options();
  o.max_pending_per_peer = 0;
  o.log_lines = 2;
  security::connection_guard guard(srv.port, o);
  std::vector<transport::socket_fd> flood;
  for (int i = 0; i < 30; ++i) flood.push_back(connect_from("127.0.0.2", srv.port));
  srv.accept(30);
  guard.look();
  CHECK(guard.stats().shut_over_peer == 30);
  CHECK(guard.stats().log_held == 28);
}

TEST_CASE("a quiet guard looks every idle tick, and a pending connection brings back the short tick") {
  server srv;
  auto o = options();
  o.tick = 10ms;
  o.idle_tick = 400ms;
  security::connection_guard guard(srv.port, o);
  std::this_thread::sleep_for(900ms);
  const auto quiet = guard.stats().looks;
  CHECK(quiet >= 2);   // 0, 400, 800 ms
  CHECK(quiet <= 4);   // not one every 10 ms
  auto stranger = connect_from("127.0.0.2", srv.port);
  srv.accept(1);
  // Seen within an idle tick, then looked at every tick while it stays pending.
  for (int i = 0; i < 100 && guard.stats().pending == 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(guard.stats().pending == 1);
  const auto seen = guard.stats().looks;
  std::this_thread::sleep_for(300ms);
  CHECK(guard.stats().looks >= seen + 5);
}

TEST_CASE("a connection the accept door notices is looked at at once, not at the next idle tick") {
  server srv;
  auto o = options();
  o.tick = 10ms;
  o.idle_tick = 1h;  // (stall_limit / 3 caps it: 20 s)
  security::connection_guard guard(srv.port, o);
  std::this_thread::sleep_for(50ms);
  REQUIRE(guard.stats().looks == 1);  // the first, at start
  auto member = connect_from("127.0.0.1", srv.port);
  srv.accept(1);
  guard.notice();
  for (int i = 0; i < 100 && guard.stats().pending == 0; ++i) std::this_thread::sleep_for(5ms);
  CHECK(guard.stats().pending == 1);
  CHECK(guard.stats().looks >= 2);
}
