// Leadership in etcd as standby routers use it, against a real single-member etcd (Debian's
// etcd-server, started here on free ports): the leased key, campaigns, renewals, resignation,
// and where a router_locator finds the router.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"
#include "runtime/control/etcd_client.h"
#include "runtime/control/leadership.h"
#include "runtime/control/roster.h"
#include "runtime/control/router_locator.h"

extern char** environ;

using namespace prfaas;
using namespace prfaas::control;

namespace {

uint16_t any_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A single-member etcd for one test, stopped (and its data removed) at the end.
struct local_etcd {
  std::string dir;
  endpoint client{"127.0.0.1", 0};
  pid_t pid = -1;

  local_etcd() {
    // The system's temporary directory (TMPDIR), a fresh folder for this etcd's data and log.
    std::string pattern = (std::filesystem::temp_directory_path() / "prfaas-etcd-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    client.port = any_free_port();
    const std::string c = "http://" + client.str(), p = "http://127.0.0.1:" + std::to_string(any_free_port());
    std::vector<std::string> args = {"/usr/bin/etcd", "--name=t", "--data-dir=" + dir + "/d", "--listen-client-urls=" + c,
                                     "--advertise-client-urls=" + c, "--listen-peer-urls=" + p,
                                     "--initial-advertise-peer-urls=" + p, "--initial-cluster=t=" + p,
                                     "--log-level=error", "--logger=zap", "--heartbeat-interval=50",
                                     "--election-timeout=500"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t io;
    posix_spawn_file_actions_init(&io);
    posix_spawn_file_actions_addopen(&io, 1, (dir + "/log").c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&io, 1, 2);
    REQUIRE(posix_spawn(&pid, argv[0], &io, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&io);
    etcd_client etcd({client});
    for (int i = 0; i < 100 && !etcd.healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(etcd.healthy());
  }
  ~local_etcd() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

TEST_CASE("a key created only if absent, bound to a lease: the first holds it, a lapsed or revoked lease frees it") {
  local_etcd e;
  etcd_client etcd({e.client});
  const int64_t a = etcd.grant(1), b = etcd.grant(1);
  CHECK(etcd.create_if_absent("/k", "first", a).created);
  const auto second = etcd.create_if_absent("/k", "second", b);
  CHECK_FALSE(second.created);
  CHECK(second.value == "first");
  CHECK(etcd.get("/k") == std::optional<std::string>("first"));
  CHECK(etcd.keepalive(a));
  etcd.revoke(a);
  CHECK_FALSE(etcd.keepalive(a));
  CHECK_FALSE(etcd.get("/k"));
  CHECK(etcd.create_if_absent("/k", "second", b).created);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // b lapses unrenewed
  CHECK_FALSE(etcd.get("/k"));
}

TEST_CASE("one router leads at a time: a standby campaigns until the leader resigns, and the old leader's renewal says it lost") {
  local_etcd e;
  etcd_client etcd_a({e.client}), etcd_b({e.client});
  leadership a(etcd_a, "10.0.0.1:7000", {.ttl_s = 1, .campaign_every = std::chrono::milliseconds(50)});
  leadership b(etcd_b, "10.0.0.2:7000", {.ttl_s = 1, .campaign_every = std::chrono::milliseconds(50)});
  REQUIRE(a.campaign([] { return false; }));
  CHECK(a.renew() == renewal::kept);
  std::vector<std::string> seen;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  CHECK_FALSE(b.campaign([&] { return std::chrono::steady_clock::now() > until; },
                         [&](const std::string& leader) { seen.push_back(leader); }));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "10.0.0.1:7000");
  a.resign();
  CHECK(b.campaign([] { return false; }));
  CHECK(a.renew() == renewal::lost);
  CHECK(b.renew() == renewal::kept);
  router_locator at(std::vector<endpoint>{e.client});
  CHECK(at.current() == endpoint{"10.0.0.2", 7000});
}

TEST_CASE("a leader whose process is gone is deposed at once, not after its lease, and only then") {
  local_etcd e;
  etcd_client etcd_a({e.client}), etcd_b({e.client});
  leadership a(etcd_a, "10.0.0.1:7000", {.ttl_s = 10});
  REQUIRE(a.campaign([] { return false; }));
  // A standby that cannot say the holder is gone waits (here 300 ms of a 10 s lease).
  bool dead = false;
  std::vector<std::pair<std::string, int64_t>> asked;
  leadership b(etcd_b, "10.0.0.2:7000", {.ttl_s = 10, .campaign_every = std::chrono::milliseconds(50),
                                         .holder_gone = [&](const std::string& holder, int64_t revision) {
                                           asked.emplace_back(holder, revision);
                                           return dead;
                                         }});
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  CHECK_FALSE(b.campaign([&] { return std::chrono::steady_clock::now() > until; }));
  REQUIRE_FALSE(asked.empty());
  CHECK(asked.front().first == "10.0.0.1:7000");
  CHECK(asked.front().second > 0);
  CHECK(b.deposed() == 0);
  // Told it is gone, the standby deletes the key and leads, long before the lease would lapse.
  dead = true;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(b.campaign([] { return false; }));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(b.deposed() == 1);
  CHECK(a.renew() == renewal::lost);  // had it lived, it would stop acting now
  CHECK(b.renew() == renewal::kept);
}

TEST_CASE("a router restarted in place takes its own dead incarnation's key when nothing listens at its address") {
  local_etcd e;
  etcd_client etcd({e.client});
  const std::string me = "127.0.0.1:" + std::to_string(any_free_port());
  leadership before(etcd, me, {.ttl_s = 10});
  REQUIRE(before.campaign([] { return false; }));
  // The process died (its lease runs on); the one started in its place finds its own address
  // in the key and nothing listening there.
  leadership after(etcd, me, {.ttl_s = 10, .campaign_every = std::chrono::milliseconds(50)});
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  CHECK(after.campaign([&] { return std::chrono::steady_clock::now() > until; }));
  CHECK(after.deposed() == 1);
}

TEST_CASE("without etcd a leader keeps serving, and clients keep to the leader etcd named last") {
  std::optional<local_etcd> e;
  e.emplace();
  const endpoint where = e->client;
  etcd_client etcd({where});
  leadership a(etcd, "10.0.0.1:7000", {.ttl_s = 1, .campaign_every = std::chrono::milliseconds(50)});
  REQUIRE(a.campaign([] { return false; }));
  router_locator at(std::vector<endpoint>{where});
  CHECK(at.current() == endpoint{"10.0.0.1", 7000});
  e.reset();  // etcd gone
  CHECK(a.renew() == renewal::store_unreachable);
  CHECK_FALSE(at.leader_now());
  CHECK(at.current() == endpoint{"10.0.0.1", 7000});
  router_locator fresh(std::vector<endpoint>{where});
  CHECK_THROWS_WITH(fresh.current(), Catch::Contains("no router leads"));
}

TEST_CASE("a watching locator asks etcd on its own thread: its answers never wait for etcd, and follow a new leader") {
  local_etcd store;
  etcd_client etcd({store.client});
  router_locator at(std::vector<endpoint>{store.client});
  at.watch(std::chrono::milliseconds(20));
  leadership first(etcd, "127.0.0.1:7000", {.ttl_s = 1});
  REQUIRE(first.campaign([] { return false; }));
  auto until = [](const std::function<bool()>& ok) {
    for (int i = 0; i < 100 && !ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return ok();
  };
  CHECK(until([&] { return at.last_look() == endpoint{"127.0.0.1", 7000}; }));
  first.resign();
  leadership second(etcd, "127.0.0.1:7001", {.ttl_s = 1});
  REQUIRE(second.campaign([] { return false; }));
  CHECK(until([&] { return at.current() == endpoint{"127.0.0.1", 7001}; }));
  // etcd gone: the locator answers at once, with the leader it saw last.
  ::kill(store.pid, SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // looks fail meanwhile
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(at.current() == endpoint{"127.0.0.1", 7001});
  CHECK_FALSE(at.last_look());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(250));  // an ask would wait out 300 ms
  ::kill(store.pid, SIGCONT);
}

TEST_CASE("a fixed router address needs no etcd, an etcd list is HOST:PORT pairs") {
  router_locator fixed(endpoint{"10.0.0.9", 7000});
  CHECK_FALSE(fixed.follows_etcd());
  CHECK(fixed.current() == endpoint{"10.0.0.9", 7000});
  CHECK(parse_etcd_endpoints("a:1,b:2").size() == 2);
  CHECK_THROWS_WITH(parse_etcd_endpoints("a:0"), Catch::Contains("needs a port"));
  CHECK_THROWS(parse_etcd_endpoints(""));
}

TEST_CASE("the leader's roster of nodes outlives it in etcd, and a new leader reads whom to wait for") {
  local_etcd store;
  etcd_client etcd({store.client});
  CHECK(read_roster(etcd).empty());  // nobody led before
  roster held;
  held.set({"decode-1", "decode-0", "prefill-0"});
  auto names = held.changed();
  REQUIRE(names);
  CHECK_FALSE(held.changed());  // published once until it changes again
  held.set({"prefill-0", "decode-0", "decode-1"});
  CHECK_FALSE(held.changed());  // the same nodes, in another order
  leadership lead(etcd, "127.0.0.1:7000", {.ttl_s = 1});
  REQUIRE(lead.campaign([] { return false; }));
  publish_roster(etcd, *names);
  lead.resign();  // the leader's key goes with its lease; the roster stays
  CHECK(etcd.get(kLeaderKey) == std::nullopt);
  CHECK(read_roster(etcd) == std::vector<std::string>{"decode-0", "decode-1", "prefill-0"});
}

TEST_CASE("a roster that is not a bounded list of names reads as none") {
  CHECK(decode_roster(encode_roster({"a", "b"})) == std::vector<std::string>{"a", "b"});
  CHECK(decode_roster("not json").empty());
  CHECK(decode_roster(R"({"a":1})").empty());
  CHECK(decode_roster(R"(["a", 2])").empty());
  CHECK(decode_roster("[\"" + std::string(300, 'x') + "\"]").empty());
  nlohmann::json many = nlohmann::json::array();
  for (size_t i = 0; i <= kRosterMax; ++i) many.push_back("n" + std::to_string(i));
  CHECK(decode_roster(many.dump()).empty());
}
