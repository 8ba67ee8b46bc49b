// Doors that one client cannot hold shut: floods from one address (127.0.0.2) against the
// gateway's HTTP port, the router's actor-plane port and a decode node's KV port, while
// legitimate clients (127.0.0.1) are served the reference output and no process restarts.

#include <catch2/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/support/flood.h"
#include "tests/support/process.h"

using namespace prfaas;
using namespace prfaas::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

uint16_t port_of(const std::string& host_port) {
  return static_cast<uint16_t>(std::stoi(host_port.substr(host_port.rfind(':') + 1)));
}

// Runs `body` on a thread until the scope ends.
class background {
 public:
  explicit background(std::function<void(const std::atomic<bool>& stop)> body)
      : thread_([this, body = std::move(body)] { body(stop_); }) {}
  ~background() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("during 1,000 idle connections and a slowloris of 300 from one address, the gateway serves its clients the reference text") {
  raise_descriptor_limit();
  deployment d("[router]\nthreshold_tokens = 100000\n[gateway]\nidle_timeout_ms = 2000\n");
  const uint16_t port = port_of(d.gateway());
  const pid_t gateway = d.pid_of("gateway");
  const json body = {{"model", "prfaas-tiny"}, {"prompt", "served during a flood"}, {"max_tokens", 8}};
  auto complete = [&] {
    httplib::Client c("http://" + d.gateway());
    c.set_read_timeout(60, 0);
    c.set_connection_timeout(30, 0);
    auto r = c.Post("/v1/completions", body.dump(), "application/json");
    return r && r->status == 200 ? json::parse(r->body)["choices"][0]["text"].get<std::string>() : std::string("<failed>");
  };
  const std::string reference = complete();
  REQUIRE(reference != "<failed>");
  const long sockets_before = socket_descriptors(gateway);

  std::vector<transport::socket_fd> idle, slow;
  for (int i = 0; i < 1000; ++i) idle.push_back(connect_from("127.0.0.2", port, false));
  for (int i = 0; i < 300; ++i) slow.push_back(connect_from("127.0.0.2", port, false));
  // The slowloris: a request head begun, then a byte every 300 ms, never finished.
  std::vector<bool> begun(slow.size(), false);
  background trickle([&](const std::atomic<bool>& stop) {
    const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: gateway\r\nX-Slow: ";
    while (!stop) {
      for (size_t i = 0; i < slow.size(); ++i) {
        if (!held_open(slow[i])) continue;
        const std::string& bytes = begun[i] ? std::string("a") : head;
        if (::send(slow[i].get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT) > 0) begun[i] = true;
      }
      std::this_thread::sleep_for(300ms);
    }
  });
  std::this_thread::sleep_for(500ms);
  int served = 0;
  for (int i = 0; i < 7; ++i) served += complete() == reference;
  CHECK(served == 7);
  // The gateway keeps open at most its bound of waiting connections from that address (32),
  // plus what one burst of the accept limit (2 x 64) let in since its guard's last look (the
  // kernel retries the flood's refused handshakes in waves); most of the time just the bound.
  std::vector<long> held;
  for (int t = 0; t < 40; ++t) {
    held.push_back(established_from(gateway, "127.0.0.2"));
    std::this_thread::sleep_for(100ms);
  }
  std::sort(held.begin(), held.end());
  INFO("connections from the flood's address open in the gateway, 40 looks: median " << held[20] << ", most " << held.back());
  CHECK(held.back() <= 32 + 128);
  CHECK(held[20] <= 32 + 8);
  trickle.stop();
  for (auto& s : idle) s.reset();
  for (auto& s : slow) s.reset();
  std::this_thread::sleep_for(2500ms);
  CHECK(socket_descriptors(gateway) <= sockets_before + 2);
  CHECK(complete() == reference);
  CHECK(d.pid_of("gateway") == gateway);
  CHECK_THAT(slurp(d.state_dir() + "/logs/gateway.log"), Catch::Contains("connection guard: shut down the connection from 127.0.0.2"));
}

TEST_CASE("a flood of 500 connections a second from one address to the router's port: members are served, its log stays small") {
  raise_descriptor_limit();
  deployment d;
  const uint16_t port = actor_port(d, "router");
  REQUIRE(port != 0);
  const pid_t router = d.pid_of("router");
  const auto reference = parse_ok(generate_in_process("served during a flood", 6))["tokens"];
  const size_t log_before = slurp(d.state_dir() + "/logs/router.log").size();
  std::atomic<long> attempted{0};
  const auto started = std::chrono::steady_clock::now();
  background flood([&](const std::atomic<bool>& stop) {
    std::vector<transport::socket_fd> open;
    auto next = std::chrono::steady_clock::now();
    while (!stop) {
      open.push_back(connect_from("127.0.0.2", port, false));
      ++attempted;
      if (open.size() >= 400) {  // the flood's own descriptors: the oldest go
        std::erase_if(open, [](const transport::socket_fd& s) { return closed_by_peer(s); });
        if (open.size() >= 400) open.erase(open.begin(), open.begin() + 100);
      }
      next += 2ms;  // 500 a second
      std::this_thread::sleep_until(next);
    }
  });
  // Members (the CLI, from 127.0.0.1) are served all the while, for 4 s of flood at least.
  int served = 0, asked = 0;
  std::string failures;
  while (asked < 7 || std::chrono::steady_clock::now() - started < 4s) {
    const auto r = d.generate("served during a flood", 6);
    ++asked;
    const bool ok = r.status == 0 && json::parse(r.out, nullptr, false).value("tokens", json()) == reference;
    served += ok;
    if (!ok) failures += "status " + std::to_string(r.status) + ": " + r.out + r.err + "\n";
  }
  INFO(failures);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  flood.stop();
  INFO("connections attempted: " << attempted.load() << " in " << seconds << " s; members served " << served << " of " << asked);
  CHECK(served == asked);
  CHECK(attempted.load() >= 400 * seconds);
  CHECK(d.pid_of("router") == router);
  const std::string log = slurp(d.state_dir() + "/logs/router.log");
  CHECK(log.size() - log_before < 48 * 1024);  // ten lines a second at most, whatever the flood
  CHECK_THAT(log, Catch::Contains("unauthenticated connections from 127.0.0.2"));
}

TEST_CASE("40 connections trickling a KV handshake to each decode node: PrfaaS-path requests land their KV and finish") {
  raise_descriptor_limit();
  deployment d("[router]\nthreshold_tokens = 256\n");
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  std::vector<uint16_t> kv_ports;
  for (const auto& n : st["nodes"])
    if (n["role"] == "decode") kv_ports.push_back(port_of(n["data_endpoint"].get<std::string>()));
  REQUIRE_FALSE(kv_ports.empty());
  std::vector<transport::socket_fd> trickling;
  for (const uint16_t p : kv_ports)
    for (int i = 0; i < 40; ++i) trickling.push_back(connect_from("127.0.0.2", p));
  background trickle([&](const std::atomic<bool>& stop) {
    while (!stop) {
      for (auto& s : trickling)
        if (held_open(s)) (void)!::send(s.get(), "\x01", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(100ms);
    }
  });
  const std::string prompt = text_prompt(1500);
  const auto reference = parse_ok(generate_in_process(prompt, 6, d.config_path()))["tokens"];
  for (int i = 0; i < 3; ++i) {
    const json r = parse_ok(d.generate(prompt, 6));
    CHECK(r["path"] == "prfaas");
    CHECK(r["kv_bytes"].get<long>() > 0);
    CHECK(r["tokens"] == reference);
  }
  // However they trickle, each is cut at the handshake deadline (2 s) or refused at once.
  std::this_thread::sleep_for(2500ms);
  CHECK(held_open_count(trickling) == 0);
  trickle.stop();
  CHECK_THAT(slurp(d.state_dir() + "/logs/decode-0.log"), Catch::Contains("refused a connection from 127.0.0.2"));
}
