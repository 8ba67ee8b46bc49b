#include "runtime/netem/wan.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "runtime/common/errc.h"

namespace prfaas::netem {
void run_setup(const std::string& cmd, const std::string& what) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw failure(errc::bad_config, what + ": '" + cmd + "' failed");
}

namespace {

void sh(const std::string& cmd) { run_setup(cmd, "netem"); }

}  // namespace

int open_tun_in(const std::string& ns, const std::string& dev) {
  int fd = -1;
  run_in_namespace(ns, [&] {
    fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) throw failure(errc::bad_config, std::string("netem: cannot open /dev/net/tun: ") + std::strerror(errno));
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw failure(errc::bad_config, "netem: cannot create TUN device " + dev + " in " + ns + ": " + why);
    }
  });
  return fd;
}

void run_in_namespace(const std::string& ns, const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      const int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw failure(errc::bad_config, "netem: no network namespace " + ns);
      const int rc = ::setns(fd, CLONE_NEWNET);
      ::close(fd);
      if (rc != 0) throw failure(errc::bad_config, "netem: cannot join " + ns + ": " + std::strerror(errno));
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

std::string emulated_wan::unavailable() {
  if (::geteuid() != 0) return "needs root (network namespaces and TUN devices)";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) return "no /dev/net/tun";
  if (std::system("ip netns list >/dev/null 2>&1") != 0) return "no 'ip netns' (iproute2)";
  return "";
}

emulated_wan::emulated_wan(wan_options o) : options_(std::move(o)) {
  PRFAAS_REQUIRE(options_.subnet >= 1 && options_.subnet <= 254, "netem subnet must be in 1..254");
  PRFAAS_REQUIRE(options_.mtu >= 576 && options_.mtu <= 65000, "netem MTU must be in 576..65000");
  PRFAAS_REQUIRE(!options_.name.empty() && options_.name.size() <= 24 &&
                     options_.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos,
                 "netem name: up to 24 of a-z, 0-9 and -");
  if (const auto why = unavailable(); !why.empty()) throw failure(errc::bad_config, "netem: " + why);
  const std::string net = "10." + std::to_string(options_.subnet) + ".0.";
  ends_ = {options_.name + "-a", options_.name + "-b", net + "1", net + "2", "prfaas-wan0"};
  try {
    for (const auto& ns : {ends_.ns_a, ends_.ns_b}) {
      std::system(("ip netns del " + ns + " >/dev/null 2>&1").c_str());  // a leftover of a killed run
      sh("ip netns add " + ns);
      sh("ip -n " + ns + " link set lo up");
    }
    fd_a_ = open_tun_in(ends_.ns_a, ends_.device);
    fd_b_ = open_tun_in(ends_.ns_b, ends_.device);
    const std::string mtu = std::to_string(options_.mtu);
    for (const auto& [ns, mine, peer] : {std::tuple{ends_.ns_a, ends_.addr_a, ends_.addr_b},
                                         std::tuple{ends_.ns_b, ends_.addr_b, ends_.addr_a}}) {
      sh("ip -n " + ns + " addr add " + mine + " peer " + peer + "/32 dev " + ends_.device);
      // A long device queue: the model's queue is the one that drops, not the kernel's.
      sh("ip -n " + ns + " link set " + ends_.device + " mtu " + mtu + " txqueuelen 10000 up");
    }
    forwarder_ = std::make_unique<forwarder>(fd_a_, fd_b_, options_.a_to_b, options_.b_to_a, options_.seed,
                                             static_cast<size_t>(options_.mtu) + 64);
  } catch (...) {
    teardown();
    throw;
  }
}

emulated_wan::~emulated_wan() { teardown(); }

void emulated_wan::teardown() {
  forwarder_.reset();
  if (fd_a_ >= 0) ::close(fd_a_);
  if (fd_b_ >= 0) ::close(fd_b_);
  fd_a_ = fd_b_ = -1;
  for (const auto& ns : {ends_.ns_a, ends_.ns_b})
    if (!ns.empty()) std::system(("ip netns del " + ns + " >/dev/null 2>&1").c_str());
}

}  // namespace prfaas::netem
