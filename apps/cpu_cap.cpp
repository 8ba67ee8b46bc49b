#include "apps/cpu_cap.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "apps/cli_support.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (!f) throw cli_error{"cannot write " + path + " (a CPU cap needs write access to the cgroup hierarchy)"};
}

// A short period keeps the throttled process's stalls short (its requests wait at most that).
constexpr long kPeriodUs = 20000;

}  // namespace

cpu_cap::cpu_cap(int pid, double share) {
  if (!(share > 0 && share <= 1)) throw cli_error{"a CPU cap is a share of one core in (0, 1]"};
  const long quota = std::max(1000L, static_cast<long>(share * kPeriodUs));  // the kernel's least quota: 1 ms
  name_ = "prfaas-cap-" + std::to_string(pid);
  const bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers");  // the unified hierarchy
  if (v2) mount_ = "/sys/fs/cgroup";
  else if (fs::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) mount_ = "/sys/fs/cgroup/cpu";  // v1's cpu controller
  else throw cli_error{"no cgroup CPU controller under /sys/fs/cgroup: a CPU cap cannot be set"};
  if (v2) {
    std::ifstream enabled(mount_ + "/cgroup.subtree_control");
    const std::string controllers((std::istreambuf_iterator<char>(enabled)), std::istreambuf_iterator<char>());
    if (controllers.find("cpu") == std::string::npos) write_file(mount_ + "/cgroup.subtree_control", "+cpu");
  }
  const std::string dir = mount_ + "/" + name_;
  std::error_code ec;
  if (!fs::create_directory(dir, ec) && ec) throw cli_error{"cannot make cgroup " + dir + ": " + ec.message()};
  if (v2) {
    write_file(dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(kPeriodUs));
  } else {
    write_file(dir + "/cpu.cfs_period_us", std::to_string(kPeriodUs));
    write_file(dir + "/cpu.cfs_quota_us", std::to_string(quota));
  }
  // Every thread of the process, those it starts later too.
  write_file(dir + "/cgroup.procs", std::to_string(pid));
}

cpu_cap::~cpu_cap() {
  // A process still in the group goes back to the root first: a cgroup holding one cannot go.
  const std::string dir = mount_ + "/" + name_;
  std::ifstream procs(dir + "/cgroup.procs");
  for (std::string pid; std::getline(procs, pid);) std::ofstream(mount_ + "/cgroup.procs") << pid;
  std::error_code ec;
  fs::remove(dir, ec);
}

bool cpu_cap::holds(int pid) const {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cgroup");
  for (std::string line; std::getline(f, line);) {
    const auto colon = line.rfind(':');
    if (colon != std::string::npos && line.compare(colon + 1, std::string::npos, "/" + name_) == 0) return true;
  }
  return false;
}

}  // namespace prfaas::apps
