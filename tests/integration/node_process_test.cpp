// How a node process runs its compute threads on a shared host.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/process.h"

using namespace prfaas::testing;

namespace {

std::string environ_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string env = text.str();
  for (auto& c : env)
    if (c == '\0') c = '\n';
  return env;
}

// CPU ticks (user + system) each thread of a process has used, by thread id.
std::map<std::string, long> thread_ticks(pid_t pid) {
  std::map<std::string, long> ticks;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& t : std::filesystem::directory_iterator(tasks)) {
    std::ifstream in(t.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');  // the name may hold spaces; fields follow it
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string f;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14) utime = std::stol(f);
      if (i == 15) stime = std::stol(f);
    }
    ticks[t.path().filename().string()] = utime + stime;
  }
  return ticks;
}

// How many of the PrfaaS prefill node's threads computed (0.15 s of CPU or more each) while it
// prefilled three long prompts.
int computing_threads(const deployment& d) {
  const pid_t pid = d.pid_of("prfaas-prefill-0");
  const auto before = thread_ticks(pid);
  for (int i = 0; i < 3; ++i) REQUIRE(parse_ok(d.generate(text_prompt(4000 + i), 2))["path"] == "prfaas");
  int busy = 0;
  for (const auto& [tid, ticks] : thread_ticks(pid)) {
    const auto was = before.find(tid);
    const long used = ticks - (was == before.end() ? 0 : was->second);
    if (used >= 15) ++busy;
  }
  return busy;
}

}  // namespace

TEST_CASE("a node computes on node.threads threads: one thread with threads = 1, two with threads = 2") {
  {
    deployment d("[node]\nthreads = 1\n");
    CHECK(computing_threads(d) == 1);
  }
  deployment d("[node]\nthreads = 2\n");
  CHECK(computing_threads(d) == 2);
}

TEST_CASE("a node's OpenMP threads follow node.threads and block instead of spinning when idle") {
  deployment d("[node]\nthreads = 1\n");
  const std::string env = environ_of(d.pid_of("local-prefill-0"));
  CHECK_THAT(env, Catch::Contains("OMP_NUM_THREADS=1\n"));
  CHECK_THAT(env, Catch::Contains("OMP_WAIT_POLICY=passive\n"));
  CHECK(parse_ok(d.generate(text_prompt(200), 4))["path"] == "local");
}

namespace {
// The shared libraries a process has mapped, one path a line.
std::string mapped_files(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (const auto slash = line.find('/'); slash != std::string::npos) out += line.substr(slash) + "\n";
  return out;
}
}  // namespace

TEST_CASE("a node that computes on the CPU maps no CUDA, cuBLAS or NCCL library") {
  deployment d;
  REQUIRE(parse_ok(d.generate(text_prompt(3000), 2))["path"] == "prfaas");  // every role has worked
  const auto state = nlohmann::json::parse(slurp(d.state_dir() + "/deployment.json"));
  int looked = 0;
  for (const auto& n : state.at("nodes")) {
    const std::string maps = mapped_files(n.at("pid").get<pid_t>());
    INFO(n.at("name").get<std::string>() << " maps:\n" << maps);
    REQUIRE_THAT(maps, Catch::Contains("libstdc++"));  // the maps were read
    CHECK_THAT(maps, !Catch::Contains("libcuda") && !Catch::Contains("libcublas") && !Catch::Contains("libnccl") &&
                         !Catch::Contains("libprfaas_gpu"));
    ++looked;
  }
  CHECK(looked >= 5);
}

TEST_CASE("a node started by hand waits passively: OpenMP reads OMP_WAIT_POLICY=passive at load, with no restart") {
  // libgomp prints the settings it read when asked (OMP_DISPLAY_ENV), at load: before main.
  const auto r = run({"/usr/bin/env", "-u", "OMP_WAIT_POLICY", "OMP_DISPLAY_ENV=TRUE", PRFAAS_NODE, "--version"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out + r.err, Catch::Contains("OMP_WAIT_POLICY = 'PASSIVE'"));
  // A caller's choice wins.
  const auto active = run({"/usr/bin/env", "OMP_WAIT_POLICY=active", "OMP_DISPLAY_ENV=TRUE", PRFAAS_NODE, "--version"});
  CHECK_THAT(active.out + active.err, Catch::Contains("OMP_WAIT_POLICY = 'ACTIVE'"));
  // The CLI's in-process commands compute in the CLI: the same holds there.
  const auto cli = run({"/usr/bin/env", "-u", "OMP_WAIT_POLICY", "OMP_DISPLAY_ENV=TRUE", PRFAAS_CLI, "--version"});
  CHECK_THAT(cli.out + cli.err, Catch::Contains("OMP_WAIT_POLICY = 'PASSIVE'"));
}

TEST_CASE("with --log-format json a node writes one JSON object a line: time, node, level, message") {
  temp_dir dir;
  child node({PRFAAS_NODE, "--role=gateway", "--cluster=local", "--listen=127.0.0.1:0", "--router=127.0.0.1:1",
              "--insecure", "--log-format", "json", "--port-file", dir.path() + "/port"},
             dir.path());
  for (int waited = 0; waited < 10000 && !std::ifstream(dir.path() + "/port"); waited += 50)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(node.pid(), SIGTERM);
  const auto r = node.wait(10000);
  CHECK(r.status == 0);
  std::istringstream lines(r.out + r.err);
  int parsed = 0;
  bool serving = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    INFO(line);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["node"].get<std::string>().rfind("gateway-", 0) == 0);
    CHECK(j.contains("time"));
    CHECK(j.contains("level"));
    serving = serving || j["message"].get<std::string>().find("gateway: serving") != std::string::npos;
    ++parsed;
  }
  CHECK(parsed >= 2);
  CHECK(serving);
  CHECK(run({PRFAAS_NODE, "--role=gateway", "--cluster=local", "--listen=127.0.0.1:0", "--router=127.0.0.1:1",
             "--insecure", "--log-format", "xml"}).status == 2);
}

namespace {
// A port free on this host now: the kernel's choice for a socket bound to port 0.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepts(const std::string& ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A decode node's command line for an extra node of `d` named `name`, with its own certificate
// (made in `dir`), listening on `listen`.
std::vector<std::string> extra_decode_node(const deployment& d, const temp_dir& dir, const std::string& name,
                                           const std::string& listen) {
  REQUIRE(run({PRFAAS_CLI, "certs", "--state", d.state_dir(), "--name", name, "--role", "decode", "--out", dir.path()})
              .status == 0);
  return {PRFAAS_NODE, "--role=decode", "--cluster=local", "--name=" + name, "--router=" + d.router(),
          "--secret-file=" + d.state_dir() + "/secret", "--ca=" + dir.path() + "/ca.pem",
          "--cert=" + dir.path() + "/" + name + ".pem", "--key=" + dir.path() + "/" + name + ".key",
          "--listen=" + listen};
}
}  // namespace

TEST_CASE("a node listening on every interface advertises the address given, on the data port given") {
  deployment d;
  temp_dir dir;
  const auto base = extra_decode_node(d, dir, "decode-9", "0.0.0.0:0");
  // Without --advertise there is no address to give the others: refused, by name.
  const auto refused = run(base, 20000);
  CHECK(refused.status == 2);
  CHECK_THAT(refused.err, Catch::Contains("--advertise"));

  const int port = free_port();
  auto args = base;
  args.insert(args.end(), {"--advertise=127.0.0.1", "--data-port=" + std::to_string(port)});
  child node(args, dir.path());
  nlohmann::json mine;
  for (int waited = 0; waited < 20000 && mine.is_null(); waited += 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
    for (const auto& n : st["nodes"])
      if (n["name"] == "decode-9") mine = n;
  }
  REQUIRE_FALSE(mine.is_null());
  CHECK(mine["data_endpoint"] == "127.0.0.1:" + std::to_string(port));
  // It listens on every interface: another loopback address reaches the same port.
  CHECK(accepts("127.0.0.2", port));
}

TEST_CASE("a node asked to compute on a GPU it has not, or on no known device, refuses to start and says why") {
  deployment d;
  temp_dir dir;
  const auto base = extra_decode_node(d, dir, "decode-8", "127.0.0.1:0");
  auto args = base;
  args.push_back("--device=cuda:63");  // no machine here has 64 GPUs; a build without CUDA has none
  const auto no_gpu = run(args, 20000);
  CHECK(no_gpu.status == 2);
  CHECK_THAT(no_gpu.err, Catch::Contains("engine.device = \"cuda:63\""));
  args = base;
  args.push_back("--device=tpu");
  const auto unknown = run(args, 20000);
  CHECK(unknown.status == 2);
  CHECK_THAT(unknown.err, Catch::Contains("engine.device must be"));
}
