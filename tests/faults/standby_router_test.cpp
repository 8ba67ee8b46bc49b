// Standby routers elected through etcd (runtime/control/leadership.h): the leader lost under
// load (killed, or stopped until its lease lapses), a standby takes over, nodes and clients
// follow the leader etcd names, and every request completes once with the fault-free output;
// etcd lost, the leader serves on.

#include <catch2/catch.hpp>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

const char* kStandby = "[router]\nthreshold_tokens = 256\n[control]\nstandby_routers = 1\nlease_s = 1\n";

json status(const deployment& d) { return parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}, 20000)); }

// Seconds from now until a request is served again (tried every 50 ms), or -1 after `limit_s`.
double seconds_until_served(const deployment& d, double limit_s) {
  const double start = now_seconds();
  while (now_seconds() - start < limit_s) {
    const auto r = run({PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", text_prompt(100),
                        "--max-tokens", "2"},
                       20000);
    if (r.status == 0) return now_seconds() - start;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

}  // namespace

TEST_CASE("status names the leader, the standby, etcd's health and both gateway doors") {
  deployment d(kStandby);
  const json st = status(d);
  CHECK(st["leader"] == "router");
  REQUIRE(st["standbys"].size() == 1);
  CHECK(st["standbys"][0] == "router-1");
  CHECK(st["etcd"]["healthy"] == true);
  CHECK(st["nodes"].size() == 6);  // every worker registered with the leader
  CHECK(st["gateways"].size() == 2);  // no lone door: two by default beside standby routers
}

TEST_CASE("the leader killed under 200 requests at concurrency 16: serving again at once, none lost or answered twice, output unchanged") {
  deployment d(kStandby);
  temp_dir dir;
  const int n = 200;
  const auto trace = write_trace(dir, n, {120, 700, 250, 900, 90, 400});
  const std::string reference = dir.path() + "/reference.jsonl", faulted = dir.path() + "/faulted.jsonl";
  REQUIRE(run(replay_args(d, trace, n, reference, 16), 240000).status == 0);

  child load(replay_args(d, trace, n, faulted, 16), dir.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const pid_t leader = d.pid_of("router");
  REQUIRE(::kill(leader, SIGKILL) == 0);
  const double gap = seconds_until_served(d, 30);
  WARN("a request was served again " << gap << " s after the leader was killed");
  CHECK(gap >= 0);
  CHECK(gap < 5);
  // Not by waiting out the dead leader's lease: a standby (or the killed router, restarted in
  // place) found its port refusing connections and took the key at once.
  const std::string deposed = "without waiting out its lease";
  CHECK((wait_for_log(d, "router-1", deposed, 0) || wait_for_log(d, "router", deposed, 0)));
  const json replayed = parse_ok(load.wait(240000));
  CHECK(replayed["completed"] == n);
  CHECK(replayed["failed"] == 0);
  // Every request completed exactly once, with the reference's tokens.
  const json check = parse_ok(run({PRFAAS_CLI, "check", faulted, "--reference", reference, "--json"}));
  CHECK(check["ok"] == true);
  const json st = status(d);
  CHECK(st["etcd"]["healthy"] == true);
  CHECK((st["leader"] == "router" || st["leader"] == "router-1"));
}

TEST_CASE("a stopped leader is replaced once its lease lapses, and resumed it stops acting instead of leading beside the new one") {
  deployment d(kStandby);
  const pid_t leader = d.pid_of("router");
  REQUIRE(::kill(leader, SIGSTOP) == 0);
  const double stopped = now_seconds();
  // Asked at once, within the lease, status reaches the stopped leader first: its connection
  // times out, the TLS handshake the stopped process never answers is cut at its deadline, and
  // the CLI finds the new leader and answers instead of hanging at exit (it did, for as long as
  // the leader stayed stopped).
  const auto asked = run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}, 20000);
  WARN("status answered " << asked.seconds << " s after it was asked, with the leader stopped");
  CHECK(asked.status == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const double gap = seconds_until_served(d, 30);
  WARN("served by the standby " << (gap < 0 ? gap : now_seconds() - stopped) << " s after the leader stopped");
  CHECK(gap >= 0);
  CHECK(status(d)["leader"] == "router-1");
  // A stopped leader's port still accepts: nobody took it for dead before its lease lapsed.
  CHECK_FALSE(wait_for_log(d, "router-1", "without waiting out its lease", 0));
  REQUIRE(::kill(leader, SIGCONT) == 0);
  // Resumed, it finds its lease gone and leaves; prfaas up starts it again, as a standby.
  CHECK(wait_for_log(d, "router", "lease is gone", 20000));
  const json st = status(d);
  CHECK(st["leader"] == "router-1");
  REQUIRE(st["standbys"].size() == 1);
  CHECK(st["standbys"][0] == "router");
  CHECK(seconds_until_served(d, 10) >= 0);
}

TEST_CASE("etcd killed and restarted: the leader serves throughout and leads after") {
  deployment d(kStandby);
  REQUIRE(::kill(d.pid_of("etcd"), SIGKILL) == 0);
  // Clients keep to the leader etcd last named while it does not answer.
  CHECK(seconds_until_served(d, 10) >= 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // beyond the lease, etcd down or restarting
  CHECK(seconds_until_served(d, 10) >= 0);
  json st;
  for (int i = 0; i < 40; ++i) {  // prfaas up restarts etcd on its data
    st = status(d);
    if (st["etcd"]["healthy"] == true) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  CHECK(st["etcd"]["healthy"] == true);
  CHECK(st["leader"] == "router");
  CHECK(seconds_until_served(d, 10) >= 0);
}
