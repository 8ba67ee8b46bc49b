// Trust on the actor plane: every door of a deployment is mutual TLS against its own CA, so a
// peer without the deployment's certificate never reaches CAF's protocol parser; a member may
// register only under the name its certificate carries, and may speak only of requests it holds.

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <fstream>
#include <regex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "runtime/security/pki.h"
#include "runtime/transport/socket.h"
#include "tests/support/flood.h"
#include "tests/support/process.h"

using namespace prfaas;
using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

const std::vector<std::string> kNodes = {"router", "cache-directory", "prfaas-prefill-0", "local-prefill-0", "decode-0"};

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Sends `bytes` on a fresh plain TCP connection and waits for the peer to close it (or 2 s).
void send_raw(uint16_t port, const std::vector<uint8_t>& bytes) {
  auto s = transport::connect_tcp({"127.0.0.1", port}, std::chrono::seconds(2));
  (void)!::send(s.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  char buf[256];
  transport::set_receive_timeout(s, std::chrono::milliseconds(2000));
  while (::recv(s.get(), buf, sizeof buf, 0) > 0) {
  }
}

// CAF 0.17's BASP header: operation, 3 bytes, payload length, operation data, two actor ids.
std::vector<uint8_t> basp_header(uint8_t operation, uint32_t payload_len) {
  std::vector<uint8_t> h(32, 0);
  h[0] = operation;
  for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<uint8_t>(payload_len >> (8 * (3 - i)));
  return h;
}

const char* kShort = "[router]\nthreshold_tokens = 100000\n";  // every request stays local

}  // namespace

TEST_CASE("a client without the deployment's certificate, or with a foreign, expired or mismatched one, cannot connect") {
  deployment d;
  temp_dir dir;
  const std::string pki = d.state_dir() + "/pki";
  auto foreign = security::certificate_authority::create(dir.path() + "/foreign");
  const auto stranger = foreign.issue({"client", "client"}, dir.path() + "/foreign/nodes");
  security::issue_options expired;
  expired.starts_in = -std::chrono::hours(48);
  expired.valid_for = std::chrono::hours(1);
  const auto old = security::certificate_authority::open(pki).issue({"old-client", "client"}, dir.path() + "/old", expired);

  auto try_generate = [&](std::vector<std::string> access) {
    std::vector<std::string> args = {PRFAAS_CLI, "generate", "--router", d.router(), "--prompt", "hi", "--max-tokens", "2"};
    args.insert(args.end(), access.begin(), access.end());
    return run(args, 60000);
  };
  SECTION("no certificate: plaintext") {
    const auto r = try_generate({"--insecure"});
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains("cannot reach the router"));
  }
  SECTION("a certificate from another CA") {
    const auto r = try_generate({"--ca", pki + "/ca.pem", "--cert", stranger.certificate, "--key", stranger.key});
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains("cannot reach the router"));
  }
  SECTION("a real client certificate, but trusting another CA (the router's certificate is then refused)") {
    const auto r = try_generate({"--ca", dir.path() + "/foreign/ca.pem", "--cert", pki + "/nodes/client.pem", "--key",
                                 pki + "/nodes/client.key"});
    CHECK(r.status != 0);
  }
  SECTION("an expired certificate of the deployment's own CA") {
    const auto r = try_generate({"--ca", pki + "/ca.pem", "--cert", old.certificate, "--key", old.key});
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains("cannot reach the router"));
  }
  SECTION("the deployment's client certificate") {
    const auto r = try_generate({"--ca", pki + "/ca.pem", "--cert", pki + "/nodes/client.pem", "--key", pki + "/nodes/client.key"});
    CHECK(r.status == 0);
  }
}

TEST_CASE("malformed and oversized CAF headers from an unauthenticated peer neither crash nor bloat any node") {
  deployment d;
  std::map<std::string, pid_t> pids;
  std::map<std::string, uint16_t> ports;
  for (const auto& n : kNodes) {
    pids[n] = d.pid_of(n);
    ports[n] = actor_port(d, n);
    REQUIRE(ports[n] != 0);
  }
  const long rss_before = rss_kib(pids["router"]);
  for (const auto& n : kNodes) {
    send_raw(ports[n], basp_header(1, 0));  // the header that crashes a plaintext libcaf_io 0.17.6
    for (int i = 0; i < 8; ++i) send_raw(ports[n], basp_header(1, 900u << 20));  // 900 MiB announced
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (const auto& n : kNodes) {
    INFO(n);
    CHECK(d.pid_of(n) == pids[n]);  // not restarted
    CHECK(::kill(pids[n], 0) == 0);
  }
  const long rss_after = rss_kib(pids["router"]);
  INFO("router RSS " << rss_before << " KiB -> " << rss_after << " KiB");
  CHECK(rss_after < rss_before + 64 * 1024);
  // Failed handshakes cost their own connection only: no node lost its link to the router.
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"), !Catch::Contains(" lost ("));
  CHECK(d.generate("still serving", 2).status == 0);
}

TEST_CASE("a node presenting decode-0's name without decode-0's certificate and key is refused") {
  deployment d;
  temp_dir dir;
  REQUIRE(run({PRFAAS_CLI, "certs", "--state", d.state_dir(), "--name", "decode-9", "--role", "decode", "--out",
               dir.path()}).status == 0);
  const std::vector<std::string> mine = {d.router(), dir.path() + "/ca.pem", dir.path() + "/decode-9.pem",
                                         dir.path() + "/decode-9.key"};
  auto rogue = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {PRFAAS_ROGUE, "impersonate"};
    args.insert(args.end(), mine.begin(), mine.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, 30000);
  };
  SECTION("its own certificate, decode-0's name") {
    const auto r = rogue({"decode-0", "decode"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("refused") && Catch::Contains("certificate of decode node decode-9") &&
                          Catch::Contains("as decode node decode-0"));
  }
  SECTION("decode-0's certificate (public), signed with its own key") {
    const auto r = rogue({"decode-0", "decode", d.state_dir() + "/pki/nodes/decode-0.pem"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("refused") && Catch::Contains("not signed by the key"));
  }
  SECTION("its own name, another role") {
    const auto r = rogue({"decode-9", "prefill"});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("refused"));
  }
  // The real decode-0 still serves.
  const json served = parse_ok(d.generate(text_prompt(100), 4));
  CHECK(served["decode_node"].get<std::string>().rfind("decode-", 0) == 0);
}

TEST_CASE("a node cannot deliver a result or a failure for a request it does not hold") {
  deployment d(kShort);
  temp_dir dir;
  REQUIRE(run({PRFAAS_CLI, "certs", "--state", d.state_dir(), "--name", "a-rogue-prefill", "--role", "prefill", "--out",
               dir.path()}).status == 0);
  temp_dir rogue_dir;
  child rogue({PRFAAS_ROGUE, "forge", d.router(), dir.path() + "/ca.pem", dir.path() + "/a-rogue-prefill.pem",
               dir.path() + "/a-rogue-prefill.key"},
              rogue_dir.path());
  std::string rogue_out;
  for (int waited = 0; rogue_out.empty() || slurp(rogue_out).find("registered") == std::string::npos; waited += 50) {
    for (const auto& e : std::filesystem::directory_iterator(rogue_dir.path()))
      if (e.path().extension() == ".out") rogue_out = e.path().string();
    REQUIRE(waited < 20000);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Requests in parallel over both local prefill nodes; the rogue's name sorts first, so it wins
  // the routing's ties (the first request at least goes to it).  It forges a result for each job
  // it gets and then disappears.
  temp_dir out;
  std::vector<std::string> prompts;
  std::vector<std::unique_ptr<child>> clients;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back("request " + std::to_string(i) + ": " + text_prompt(80 + 40 * i));
    clients.push_back(std::make_unique<child>(
        std::vector<std::string>{PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", prompts.back(),
                                 "--max-tokens", "6"},
        out.path()));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const json served = parse_ok(clients[i]->wait(120000));
    const json reference = parse_ok(generate_in_process(prompts[i], 6));
    CHECK(served["tokens"] == reference["tokens"]);
    CHECK(served["prefill_node"] != "a-rogue-prefill");
  }
  rogue.wait(5000);
  INFO(slurp(rogue_out));
  CHECK(slurp(rogue_out).find("forged") != std::string::npos);  // it did try
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"),
             Catch::Contains("from node a-rogue-prefill, which does not hold it"));
}

TEST_CASE("with transport.encrypt a deployment serves both paths with the reference output") {
  deployment d("[transport]\nencrypt = true\n");
  for (const int bytes : {300, 2400}) {  // local path, PrfaaS path
    const std::string prompt = text_prompt(bytes);
    const json served = parse_ok(d.generate(prompt, 6));
    const json reference = parse_ok(generate_in_process(prompt, 6, d.config_path()));
    CHECK(served["tokens"] == reference["tokens"]);
    CHECK(served["kv_bytes"].get<long>() > 0);
  }
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"), !Catch::Contains(" lost ("));
}

TEST_CASE("strangers that connect and say nothing, or trickle a TLS handshake, are shut out, members still get in") {
  deployment d;
  const uint16_t port = actor_port(d, "router");
  REQUIRE(port != 0);
  std::vector<transport::socket_fd> idle, trickling;
  for (int i = 0; i < 100; ++i) idle.push_back(transport::connect_tcp({"127.0.0.1", port}, std::chrono::seconds(2)));
  const uint8_t record[] = {0x16, 0x03, 0x01, 0x40, 0x00};  // a TLS record of 16 KiB announced
  for (int i = 0; i < 5; ++i) {
    trickling.push_back(transport::connect_tcp({"127.0.0.1", port}, std::chrono::seconds(2)));
    (void)!::send(trickling.back().get(), record, sizeof record, MSG_NOSIGNAL);
  }
  // Beyond the accept rate of the address (a burst of 64) they are closed at accept, beyond the
  // bound of 32 unestablished connections the oldest are shut at once.
  const auto closed = [](const std::vector<transport::socket_fd>& v) {
    return std::count_if(v.begin(), v.end(), [](const auto& s) { return closed_by_peer(s); });
  };
  for (int i = 0; i < 100 && closed(idle) < 60; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(closed(idle) >= 60);
  // A member connects and is served in the middle of it.
  CHECK(d.generate("served during the flood", 2).status == 0);
  // The trickle goes on (a byte every 250 ms), yet nothing is sent to them: shut after the stall
  // (or refused at accept already, over the address's rate).
  for (int t = 0; t < 32 && (closed(trickling) < 5 || closed(idle) < 100); ++t) {
    for (auto& s : trickling) (void)!::send(s.get(), "\x01", 1, MSG_NOSIGNAL);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  CHECK(closed(trickling) == 5);
  CHECK(closed(idle) == 100);
  const auto log = slurp(d.state_dir() + "/logs/router.log");
  CHECK_THAT(log, Catch::Contains("connection guard: shut down") && Catch::Contains("unauthenticated connections"));
  CHECK_THAT(log, !Catch::Contains(" lost ("));  // no member was shut out
  CHECK(d.generate("still serving", 2).status == 0);
}

namespace {

// A TLS connection to `port` with the client certificate of the deployment in `state`: what any
// CLI user holds.  Sends `bytes` once the handshake is done, then waits for the peer to close
// (or 3 s).  Returns whether the peer closed the connection.
bool send_over_tls(const std::string& state, uint16_t port, const std::vector<uint8_t>& bytes) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, (state + "/pki/nodes/client.pem").c_str()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, (state + "/pki/nodes/client.key").c_str(), SSL_FILETYPE_PEM) == 1);
  REQUIRE(SSL_CTX_load_verify_locations(ctx, (state + "/pki/ca.pem").c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  auto s = transport::connect_tcp({"127.0.0.1", port}, std::chrono::seconds(2));
  transport::set_receive_timeout(s, std::chrono::milliseconds(3000));
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, s.get());
  const bool handshake = SSL_connect(ssl) == 1;
  CHECK(handshake);  // a member of the deployment gets through TLS
  bool closed = false;
  if (handshake) {
    REQUIRE(SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size()));
    char buf[4096];
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) continue;  // the node's own handshake and heartbeats
      const int e = SSL_get_error(ssl, n);
      if (e == SSL_ERROR_WANT_READ) break;  // the receive timeout: still open
      closed = true;
      break;
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return closed;
}

}  // namespace

TEST_CASE("holding only the client certificate, the 32-byte header and a 2 GiB payload declaration close that connection, no node restarts") {
  deployment d;
  std::map<std::string, pid_t> pids;
  for (const auto& n : kNodes) pids[n] = d.pid_of(n);
  auto huge = basp_header(1, 0);
  huge[4] = 0x80;  // 2 GiB
  for (const auto& n : kNodes) {
    INFO(n);
    const uint16_t port = actor_port(d, n);
    REQUIRE(port != 0);
    CHECK(send_over_tls(d.state_dir(), port, basp_header(1, 0)));
    CHECK(send_over_tls(d.state_dir(), port, huge));
    for (int i = 0; i < 4; ++i) CHECK(send_over_tls(d.state_dir(), port, basp_header(1, 512u << 20)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (const auto& n : kNodes) {
    INFO(n);
    CHECK(d.pid_of(n) == pids[n]);  // never restarted
    CHECK(::kill(pids[n], 0) == 0);
    CHECK_THAT(slurp(d.state_dir() + "/logs/" + n + ".log"), Catch::Contains("actor plane: refused the connection from"));
  }
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"), Catch::Contains("without a payload") &&
                                                         Catch::Contains("declares a payload of 2147483648 bytes"));
  CHECK(d.generate("still serving", 2).status == 0);
}

TEST_CASE("holding only the client certificate, declaring a registered node's actor-plane id is refused at the handshake, the router stays up") {
  deployment d;
  const pid_t router = d.pid_of("router");
  // decode-0's node id, as the router logged its registration.
  const std::string log = slurp(d.state_dir() + "/logs/router.log");
  const std::regex registered(R"(registered decode node decode-0 \(cluster [^,]+, actor-plane node ([0-9A-Fa-f]+#[0-9]+)\))");
  std::smatch m;
  REQUIRE(std::regex_search(log, m, registered));
  const std::string victim = m[1];
  const std::string pki = d.state_dir() + "/pki";
  const auto r = run({PRFAAS_ROGUE, "claim", d.router(), pki + "/ca.pem", pki + "/nodes/client.pem", pki + "/nodes/client.key",
                      victim},
                     30000);
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("refused"));
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"),
             Catch::Contains("its handshake declares the node of decode-0, but its certificate is client"));
  CHECK(d.pid_of("router") == router);
  // The control: the same rogue declaring a node id nobody registered gets in (and its forged
  // result for a request it does not hold is dropped): the refusal above was the binding's.
  const auto control = run({PRFAAS_ROGUE, "claim", d.router(), pki + "/ca.pem", pki + "/nodes/client.pem",
                            pki + "/nodes/client.key", victim.substr(0, victim.find('#')) + "#1"},
                           30000);
  INFO(control.out << control.err);
  CHECK(control.status == 1);
  CHECK_THAT(control.out, Catch::StartsWith("connected"));
  // decode-0 itself still serves.
  for (int i = 0; i < 4; ++i) CHECK(d.generate("still decode-0's " + std::to_string(i) + " " + text_prompt(60), 3).status == 0);
}

TEST_CASE("holding only the client certificate, asking the cache directory for every node's cache is refused, the router's certificate may") {
  deployment d;
  const std::string pki = d.state_dir() + "/pki";
  const std::string directory = "127.0.0.1:" + std::to_string(actor_port(d, "cache-directory"));
  REQUIRE(d.generate("something cached " + text_prompt(80), 2).status == 0);
  const auto r = run({PRFAAS_ROGUE, "watch", directory, pki + "/ca.pem", pki + "/nodes/client.pem", pki + "/nodes/client.key"},
                     30000);
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("watched 0"));
  CHECK_THAT(slurp(d.state_dir() + "/logs/cache-directory.log"), Catch::Contains("refused a watch from a sender with"));
  // The control: the router's certificate gets the index (the refusal above was the role's).
  const auto control = run({PRFAAS_ROGUE, "watch", directory, pki + "/ca.pem", pki + "/nodes/router.pem",
                            pki + "/nodes/router.key"},
                           30000);
  INFO(control.out << control.err);
  CHECK(control.status == 0);
  CHECK_THAT(control.out, !Catch::StartsWith("watched 0"));
  CHECK_THAT(control.out, Catch::StartsWith("watched "));
}

TEST_CASE("holding only the client certificate, cutting the link and converting a node are refused, the operator certificate may") {
  deployment d;
  const std::string pki = d.state_dir() + "/pki";
  const std::vector<std::string> as_client = {"--ca", pki + "/ca.pem", "--cert", pki + "/nodes/client.pem", "--key",
                                              pki + "/nodes/client.key"};
  auto cli = [&](std::vector<std::string> args, const std::vector<std::string>& creds) {
    std::vector<std::string> cmd = {PRFAAS_CLI};
    cmd.insert(cmd.end(), args.begin(), args.end());
    cmd.insert(cmd.end(), {"--state", d.state_dir()});
    cmd.insert(cmd.end(), creds.begin(), creds.end());
    return run(cmd, 60000);
  };
  for (const auto& order : std::vector<std::vector<std::string>>{{"chaos", "link", "cut"},
                                                                 {"link", "set", "--gbps", "0.5"},
                                                                 {"node", "convert", "local-prefill-0", "--to", "decode"}}) {
    const auto r = cli(order, as_client);
    INFO(order[0] << " " << order[1] << ": " << r.out << r.err);
    CHECK(r.status != 0);
    CHECK_THAT(r.err, Catch::Contains("needs an operator certificate") && Catch::Contains("client certificate client"));
  }
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"), Catch::Contains("refused changing the inter-cluster link from a sender with client"));
  // Nothing changed: requests are served on both paths, no node converted.
  CHECK(parse_ok(d.generate(text_prompt(100), 3))["path"] == "local");
  // The operator certificate (what the CLI takes from the state directory for these) may.
  const auto cut = cli({"chaos", "link", "cut"}, {});
  INFO(cut.out << cut.err);
  CHECK(cut.status == 0);
  CHECK(cli({"chaos", "link", "restore"}, {}).status == 0);
}

TEST_CASE("holding only the client certificate, another certificate's request cannot be cancelled, joined or traced") {
  deployment d(kShort);
  const std::string pki = d.state_dir() + "/pki";
  const std::vector<std::string> as_client = {pki + "/ca.pem", pki + "/nodes/client.pem", pki + "/nodes/client.key"};
  auto rogue = [&](const std::string& mode, const std::string& client_id) {
    std::vector<std::string> cmd = {PRFAAS_ROGUE, mode, d.router()};
    cmd.insert(cmd.end(), as_client.begin(), as_client.end());
    cmd.push_back(client_id);
    return run(cmd, 60000);
  };
  // A streamed completion through the gateway: its id (in every chunk) names the router's
  // request of its first choice, "ID-0"; the attacker learnt it.
  const auto at = d.gateway();
  httplib::Client c("http://" + at);
  c.set_read_timeout(120, 0);
  std::promise<std::string> id_seen;
  bool id_given = false;
  std::string received;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"model", "prfaas-tiny"}, {"prompt", "a victim's request"}, {"max_tokens", 1500}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    static const std::regex id_re("\"id\":\"(cmpl-[0-9a-f]+)\"");
    std::smatch m;
    if (!id_given && std::regex_search(received, m, id_re)) {
      id_given = true;
      id_seen.set_value(m[1]);
    }
    return true;
  };
  auto stream = std::async(std::launch::async, [&] {
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    c.send(req, res, error);
    return error == httplib::Error::Success ? res.status : -1;
  });
  auto seen = id_seen.get_future();
  REQUIRE(seen.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  const std::string victim = seen.get() + "-0";
  const auto cancel = rogue("cancel", victim);
  CHECK(cancel.out.find("sent") != std::string::npos);
  const auto join = rogue("join", victim);
  CHECK_THAT(join.out, Catch::Contains("refused") && Catch::Contains("another certificate's request"));
  // The victim's stream runs to its end: all 1,500 tokens, "length".
  REQUIRE(stream.get() == 200);
  CHECK_THAT(received, Catch::Contains("\"finish_reason\":\"length\""));
  const auto log = slurp(d.state_dir() + "/logs/router.log");
  CHECK_THAT(log, Catch::Contains("refused cancelling request") && Catch::Contains("the sender holds client"));
  CHECK_THAT(log, Catch::Contains("refused joining request " + victim));
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  CHECK(st["failed"] == 0);

  // Reading: the gateway's request is not the client certificate's to trace; the operator's may,
  // and the client certificate traces its own.
  auto plain = c.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", "traced"}, {"max_tokens", 3}}.dump(),
                      "application/json");
  REQUIRE(plain);
  REQUIRE(plain->status == 200);
  const std::string gateway_request = plain->get_header_value("X-Prfaas-Request-Id");
  const std::vector<std::string> client_flags = {"--ca", as_client[0], "--cert", as_client[1], "--key", as_client[2]};
  auto trace = [&](const std::string& id, bool as_operator) {
    std::vector<std::string> cmd = {PRFAAS_CLI, "trace", id, "--json", "--state", d.state_dir()};
    if (!as_operator) cmd.insert(cmd.end(), client_flags.begin(), client_flags.end());
    return run(cmd, 60000);
  };
  const auto stolen = trace(gateway_request, false);
  CHECK(stolen.status != 0);
  CHECK_THAT(stolen.err, Catch::Contains("holds no request"));
  CHECK(trace(gateway_request, true).status == 0);
  std::vector<std::string> own_cmd = {PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", "mine",
                                      "--max-tokens", "3"};
  own_cmd.insert(own_cmd.end(), client_flags.begin(), client_flags.end());
  const json own = parse_ok(run(own_cmd, 60000));
  CHECK(trace(std::to_string(own["request"].get<uint64_t>()), false).status == 0);
}

TEST_CASE("a second process under a live node's name and certificate is refused and the original keeps serving under it") {
  deployment d("[router]\nthreshold_tokens = 100000\n[deployment]\ndecode = 1\n");
  const std::string pki = d.state_dir() + "/pki";
  const pid_t decode = d.pid_of("decode-0");
  // A stale copy of decode-0 (its real certificate and key) comes back while decode-0 runs.
  const auto r = run({PRFAAS_ROGUE, "impersonate", d.router(), pki + "/ca.pem", pki + "/nodes/decode-0.pem",
                      pki + "/nodes/decode-0.key", "decode-0", "decode"}, 30000);
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("refused") && Catch::Contains("held by a live node"));
  const json served = parse_ok(d.generate("still mine", 4));
  CHECK(served["decode_node"] == "decode-0");
  CHECK(served["tokens"] == parse_ok(generate_in_process("still mine", 4, d.config_path()))["tokens"]);
  CHECK(d.pid_of("decode-0") == decode);
  CHECK_THAT(slurp(d.state_dir() + "/logs/router.log"), !Catch::Contains("decode node decode-0 lost"));
}
