// Standby routers elected through etcd (runtime/control/leadership.h): the leader lost under
// load (killed, or stopped until its lease lapses), a standby takes over, nodes and clients
// follow the leader etcd names, and every request completes once with the fault-free output;
// etcd lost, the leader serves on.

#include <catch2/catch.hpp>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "runtime/faults/outcome_check.h"
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

// How often `needle` occurs in a node's log from byte `from` on.
int occurrences(const deployment& d, const std::string& node, const std::string& needle, size_t from = 0) {
  const std::string log = slurp(d.state_dir() + "/logs/" + node + ".log");
  int n = 0;
  for (size_t at = log.find(needle, std::min(from, log.size())); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

size_t log_size(const deployment& d, const std::string& node) { return slurp(d.state_dir() + "/logs/" + node + ".log").size(); }

// The request ids a node's log names in lines matching `pattern` (its first group), from byte
// `from` on.
std::set<std::string> ids_in_log(const deployment& d, const std::string& node, const std::string& pattern, size_t from) {
  const std::string log = slurp(d.state_dir() + "/logs/" + node + ".log");
  const std::regex re(pattern);
  std::set<std::string> ids;
  for (auto it = std::sregex_iterator(log.begin() + static_cast<std::ptrdiff_t>(std::min(from, log.size())), log.end(), re);
       it != std::sregex_iterator(); ++it)
    ids.insert((*it)[1]);
  return ids;
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

TEST_CASE("a leader killed while its requests decode: the new leader takes them over from the decode nodes, prefills none again, output unchanged") {
  deployment d(kStandby);
  temp_dir dir;
  const int n = 8;
  const auto trace = write_trace(dir, n, {300, 600});
  auto args = [&](const std::string& outcomes) {
    auto a = replay_args(d, trace, n, outcomes, n);
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == "--max-tokens") a[i + 1] = "400";  // long enough to be decoding when the leader dies
    // With log-probabilities: the first token's come from the prefill, which the new leader never heard.
    a.push_back("--logprobs");
    a.push_back("2");
    return a;
  };
  const std::string reference = dir.path() + "/reference.jsonl", faulted = dir.path() + "/faulted.jsonl";
  REQUIRE(run(args(reference), 240000).status == 0);
  const auto decoding = [&] { return occurrences(d, "decode-0", "decoding from") + occurrences(d, "decode-1", "decoding from"); };
  const int before = decoding();
  child load(args(faulted), dir.path());
  // Every request has its first token: its prefill is done and it decodes.
  const double until = now_seconds() + 60;
  while (decoding() < before + n && now_seconds() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(decoding() >= before + n);
  const size_t mark_router = log_size(d, "router"), mark_standby = log_size(d, "router-1");
  REQUIRE(::kill(d.pid_of("router"), SIGKILL) == 0);
  const json replayed = parse_ok(load.wait(240000));
  CHECK(replayed["completed"] == n);
  CHECK(replayed["failed"] == 0);
  const json check = parse_ok(run({PRFAAS_CLI, "check", faulted, "--reference", reference, "--json"}));
  CHECK(check["ok"] == true);
  // Every output token has its log-probabilities, the first one's too (the check above compared
  // them with the fault-free run's).
  for (const auto& o : prfaas::faults::load_outcomes(faulted)) {
    REQUIRE(o.logprobs.size() == o.tokens.size());
    CHECK(o.logprobs[0].top_ids.size() == 2);
  }
  // The new leader (the standby, or the killed router restarted in place) took requests over
  // from the decode nodes, and dispatched none of those again: their prefill ran once.  (A
  // request whose client retried before its decode node reported runs again; one that ended
  // before the kill is neither.)
  auto ids = [&](const std::string& pattern) {
    auto a = ids_in_log(d, "router", pattern, mark_router);
    const auto b = ids_in_log(d, "router-1", pattern, mark_standby);
    a.insert(b.begin(), b.end());
    return a;
  };
  const auto taken = ids("request ([0-9]+) taken over from decode-");
  const auto dispatched = ids("request ([0-9]+) \\([0-9]+ tokens, [0-9]+ cached\\) -> ");
  WARN(taken.size() << " of " << n << " requests taken over by the new leader, " << dispatched.size() << " dispatched again");
  CHECK(taken.size() >= 1);
  CHECK(taken.size() + dispatched.size() <= static_cast<size_t>(n));
  for (const auto& id : taken) CHECK(dispatched.count(id) == 0);
}

// 8 requests whose prefills are slow (every layer held back: three rounds of the three prefill
// nodes), their fault-free replay done.  `replay_killing` replays them again, kills what it is
// told once the prefills given have started, and checks every request completed once with the
// fault-free output.
struct slow_prefills {
  static constexpr int n = 8;
  deployment d{std::string(kStandby) + "[faults]\ndelay_layer_ms = 150\n"};
  temp_dir dir;
  std::string trace = write_trace(dir, n, {300, 600});
  std::string reference = dir.path() + "/reference.jsonl", faulted = dir.path() + "/faulted.jsonl";
  size_t mark_router = 0, mark_standby = 0;  // the routers' logs before the kill

  slow_prefills() { REQUIRE(run(replay_args(d, trace, n, reference, n), 240000).status == 0); }

  // Prefills started on `nodes` so far.
  int prefills(const std::vector<std::string>& nodes) const {
    int all = 0;
    for (const auto& p : nodes) all += occurrences(d, p, "tokens started");
    return all;
  }

  void replay_killing(const std::vector<std::string>& victims, const std::vector<std::string>& watched, int started) {
    const int before = prefills(watched);
    child load(replay_args(d, trace, n, faulted, n), dir.path());
    const double until = now_seconds() + 60;
    while (prefills(watched) < before + started && now_seconds() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(prefills(watched) >= before + started);
    mark_router = log_size(d, "router");
    mark_standby = log_size(d, "router-1");
    for (const auto& v : victims) REQUIRE(::kill(d.pid_of(v), SIGKILL) == 0);
    const json replayed = parse_ok(load.wait(240000));
    CHECK(replayed["completed"] == n);
    CHECK(replayed["failed"] == 0);
    const json check = parse_ok(run({PRFAAS_CLI, "check", faulted, "--reference", reference, "--json"}));
    CHECK(check["ok"] == true);
  }

  // The request ids the new leader's lines matching `pattern` name (its first group; the
  // standby's log, or the killed router's restarted in place).
  std::set<std::string> leader_ids(const std::string& pattern) const {
    auto ids = ids_in_log(d, "router", pattern, mark_router);
    const auto more = ids_in_log(d, "router-1", pattern, mark_standby);
    ids.insert(more.begin(), more.end());
    return ids;
  }
};

const std::vector<std::string> kPrefillNodes = {"prfaas-prefill-0", "prfaas-prefill-1", "local-prefill-0"};

TEST_CASE("a leader killed while its requests prefill: the new leader takes them over from the decode and prefill nodes, every prompt prefilled once, output unchanged") {
  slow_prefills slow;
  const int before = slow.prefills(kPrefillNodes);
  CHECK(before == slow.n);  // the fault-free run: one prefill a request
  // Killed in the first round of prefills: requests computing, queued on prefill nodes and
  // reserved on decode nodes, their KV awaited.
  slow.replay_killing({"router"}, kPrefillNodes, 2);
  // The new leader took requests over with their KV still arriving, and no prompt was prefilled
  // twice: neither a request it took over nor a client's retry of one ran its prefill again.
  const auto arriving = slow.leader_ids("request ([0-9]+) taken over from decode-[0-9]+ \\(its KV arriving");
  const int prefills = slow.prefills(kPrefillNodes) - before;
  WARN(arriving.size() << " of " << slow.n << " requests taken over with their KV arriving; " << prefills
                       << " prefills in the run");
  CHECK(arriving.size() >= 1);
  CHECK(prefills == slow.n);
}

TEST_CASE("the leader and a prefill node killed together while requests prefill: the new leader dispatches again what no prefill node holds, output unchanged") {
  slow_prefills slow;
  // The prefill node's jobs (the one computing, those queued) die with it: nobody will say it holds them.
  slow.replay_killing({"prfaas-prefill-0", "router"}, {"prfaas-prefill-0"}, 1);
  const auto arriving = slow.leader_ids("request ([0-9]+) taken over from decode-[0-9]+ \\(its KV arriving");
  const auto again = slow.leader_ids("request ([0-9]+) dispatched again");
  int both = 0;
  for (const auto& id : arriving) both += static_cast<int>(again.count(id));
  WARN(both << " requests taken over with their prefill lost were dispatched again");
  CHECK(both >= 1);
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
