#include "tests/support/process.h"

#include <cstdlib>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace prfaas::testing {

namespace fs = std::filesystem;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool wait_for_log(const deployment& d, const std::string& node, const std::string& needle, int timeout_ms) {
  const double until = now_seconds() + timeout_ms / 1000.0;
  for (;;) {
    if (slurp(d.state_dir() + "/logs/" + node + ".log").find(needle) != std::string::npos) return true;
    if (now_seconds() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

uint16_t actor_port(const deployment& d, const std::string& node) {
  const std::string log = slurp(d.state_dir() + "/logs/" + node + ".log");
  static const std::regex re(" listening on [0-9.]+:([0-9]+)");
  uint16_t port = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    port = static_cast<uint16_t>(std::stoi((*it)[1]));
  return port;
}

temp_dir::temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "prfaas-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  // PRFAAS_TEST_KEEP=1 keeps every test's directories (deployment logs) for a post-mortem.
  if (const char* keep = std::getenv("PRFAAS_TEST_KEEP"); keep && std::string(keep) == "1") return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string temp_dir::write(const std::string& name, const std::string& text) const {
  const std::string p = path_ + "/" + name;
  std::ofstream(p) << text;
  return p;
}

child::child(const std::vector<std::string>& args, const std::string& out_dir) {
  static std::atomic<int> counter{0};  // children may start from several threads
  const std::string base = out_dir + "/proc-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  started_ = now_seconds();
  pid_ = ::fork();
  if (pid_ == 0) {
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());  // PATH is searched for a bare name (curl)
    ::_exit(127);
  }
}

child::~child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

run_result child::wait(int timeout_ms) {
  run_result r;
  int status = 0;
  const double deadline = now_seconds() + timeout_ms / 1000.0;
  for (;;) {
    const pid_t p = ::waitpid(pid_, &status, WNOHANG);
    if (p == pid_) {
      r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (now_seconds() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      r.status = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  r.seconds = now_seconds() - started_;
  r.out = slurp(out_path_);
  r.err = slurp(err_path_);
  return r;
}

run_result run(const std::vector<std::string>& args, int timeout_ms) {
  static temp_dir outputs;
  child c(args, outputs.path());
  return c.wait(timeout_ms);
}

namespace {

// `prfaas up` writes its state file once every node it started is registered.
nlohmann::json wait_up(child& up, const std::string& state_dir) {
  const std::string state_file = state_dir + "/deployment.json";
  for (int waited = 0; !fs::exists(state_file); waited += 50) {
    if (waited > 60000) throw std::runtime_error("deployment did not come up within 60 s");
    int status;
    if (::waitpid(up.pid(), &status, WNOHANG) == up.pid()) throw std::runtime_error("prfaas up exited during start-up");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the file is written in one go; let it close
  return nlohmann::json::parse(slurp(state_file));
}

}  // namespace

host_deployment::host_deployment(const std::string& ns, const std::string& host, const std::string& config_path,
                                 const std::string& state_dir)
    : ns_(ns), state_(state_dir) {
  fs::create_directories(state_);
  up_ = std::make_unique<child>(std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", ns_, PRFAAS_CLI, "up", "--host", host,
                                                         "--config", config_path, "--state", state_},
                                state_);
  try {
    wait_up(*up_, state_);
  } catch (const std::exception& e) {
    const auto r = up_->wait(2000);
    throw std::runtime_error(std::string(e.what()) + " (host " + host + "): " + r.out + r.err);
  }
}

host_deployment::~host_deployment() {
  if (up_ && up_->pid() > 0) {
    ::kill(up_->pid(), SIGTERM);
    up_->wait(20000);
  }
}

run_result host_deployment::cli(std::vector<std::string> args, int timeout_ms) const {
  std::vector<std::string> full = {"/usr/sbin/ip", "netns", "exec", ns_, PRFAAS_CLI};
  full.insert(full.end(), args.begin(), args.end());
  full.push_back("--state");
  full.push_back(state_);
  return run(full, timeout_ms);
}

deployment::deployment(const std::string& config_text) {
  state_ = dir_.path() + "/state";
  std::vector<std::string> args = {PRFAAS_CLI, "up", "--state", state_};
  if (!config_text.empty()) {
    config_ = dir_.write("deployment.toml", config_text);
    args.push_back("--config");
    args.push_back(config_);
  }
  up_ = std::make_unique<child>(args, dir_.path());
  state_json_ = wait_up(*up_, state_);
}

deployment::~deployment() {
  if (up_ && up_->pid() > 0) {
    ::kill(up_->pid(), SIGTERM);
    up_->wait(20000);
  }
}

std::string deployment::router() const { return state_json_.at("router").get<std::string>(); }

std::string deployment::gateway() const {
  std::string url = state_json_.value("gateway", "");  // http(s)://HOST:PORT/v1
  if (url.rfind("http://", 0) == 0) url = url.substr(7);
  if (url.rfind("https://", 0) == 0) url = url.substr(8);
  if (auto slash = url.find('/'); slash != std::string::npos) url.resize(slash);
  return url;
}

pid_t deployment::pid_of(const std::string& node) const {
  // Read afresh: `prfaas up` rewrites the file when it restarts a node.
  const auto state = nlohmann::json::parse(slurp(state_ + "/deployment.json"));
  for (const auto& n : state.at("nodes"))
    if (n.at("name") == node) return n.at("pid").get<pid_t>();
  throw std::runtime_error("no node named " + node);
}

run_result deployment::generate(const std::string& prompt, int max_tokens, const std::vector<std::string>& extra) const {
  std::vector<std::string> args = {PRFAAS_CLI, "generate", "--json", "--state", state_, "--prompt", prompt,
                                   "--max-tokens", std::to_string(max_tokens)};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args, 120000);
}

nlohmann::json parse_ok(const run_result& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.status == 0);
  return nlohmann::json::parse(r.out);
}

run_result generate_in_process(const std::string& prompt, int max_tokens, const std::string& config_path) {
  std::vector<std::string> args = {PRFAAS_CLI, "generate", "--in-process", "--json", "--prompt", prompt,
                                   "--max-tokens", std::to_string(max_tokens)};
  if (!config_path.empty()) { args.push_back("--config"); args.push_back(config_path); }
  // Beside a loaded suite on two cores a reference of a few hundred tokens has taken past 120 s
  // (a 2-thread team waits for both threads at every barrier); a test's own limit is 240 s.
  return run(args, 200000);
}

std::string write_trace(const temp_dir& dir, int n, const std::vector<int>& lengths) {
  std::string trace;
  for (int i = 0; i < n; ++i) {
    const int len = lengths[static_cast<size_t>(i) % lengths.size()];
    std::string ids;
    for (int b = 0; b * 512 < len; ++b) ids += (b ? ", " : "") + std::to_string(i * 10 + b);
    trace += "{\"timestamp\": " + std::to_string(i) + ", \"input_length\": " + std::to_string(len) +
             ", \"output_length\": 12, \"hash_ids\": [" + ids + "]}\n";
  }
  return dir.write("trace.jsonl", trace);
}

std::vector<std::string> replay_args(const deployment& d, const std::string& trace, int n, const std::string& outcomes,
                                     int concurrency) {
  return {PRFAAS_CLI, "replay", "--state", d.state_dir(), "--trace", trace, "--scale-tokens", "1", "--requests",
          std::to_string(n), "--concurrency", std::to_string(concurrency), "--max-tokens", "12", "--outcomes",
          outcomes, "--json"};
}

std::string text_prompt(int bytes) {
  static const std::string words =
      "Prefill as a service moves long prompts to a compute dense cluster while short ones stay local. ";
  std::string s;
  while (static_cast<int>(s.size()) < bytes) s += words;
  s.resize(bytes);
  return s;
}

}  // namespace prfaas::testing
