#pragma once
// An emulated wide-area link between two network namespaces, for machines whose kernel has no
// netem: namespaces NAME-a and NAME-b, each with a TUN device whose packets a forwarder
// (forwarder.h) carries to the other through the link model, so TCP between them meets a real
// round trip, rate, loss and queue.  Root only (namespaces, TUN); `available()` says why not.
//
//   emulated_wan wan({.name = "prfaas-wan", .a_to_b = {.one_way_ms = 20, .gbps = 2, .loss = 0.001}});
//   wan.a_to_b ... wan.ends().addr_b            // 10.77.0.2, reachable from namespace a
//   run_in_namespace(wan.ends().ns_b, [&] { listen(...); });   // a thread inside b
//   // processes: ip netns exec prfaas-wan-b iperf3 -s
//
// The destructor stops the forwarder and deletes both namespaces.  A second emulated_wan needs
// its own name and subnet.

#include <functional>
#include <memory>
#include <string>

#include "runtime/netem/forwarder.h"

namespace prfaas::netem {

struct wan_options {
  std::string name = "prfaas-wan";   // namespaces NAME-a and NAME-b
  int subnet = 77;                   // addresses 10.SUBNET.0.1 (a) and 10.SUBNET.0.2 (b)
  link_params a_to_b, b_to_a;
  int mtu = 9000;                    // of the TUN devices (a packet per read and write)
  uint64_t seed = 1;
};

struct wan_ends {
  std::string ns_a, ns_b;            // namespace names (ip netns)
  std::string addr_a, addr_b;
  std::string device;                // the TUN device's name in both
};

class emulated_wan {
 public:
  explicit emulated_wan(wan_options options);  // throws failure naming what could not be set up
  ~emulated_wan();
  emulated_wan(const emulated_wan&) = delete;
  emulated_wan& operator=(const emulated_wan&) = delete;

  const wan_ends& ends() const { return ends_; }
  const wan_options& options() const { return options_; }
  const forwarder& links() const { return *forwarder_; }

  // Empty when this process can make one (root, /dev/net/tun, ip netns); else why not.
  static std::string unavailable();

 private:
  void teardown();
  wan_options options_;
  wan_ends ends_;
  int fd_a_ = -1, fd_b_ = -1;
  std::unique_ptr<forwarder> forwarder_;
};

// Opens a TUN device named `dev` inside namespace `ns` (made from a thread that joins it: a
// device is made in the namespace of the thread that asks).  Throws failure(bad_config).
int open_tun_in(const std::string& ns, const std::string& dev);
// Runs a network set-up command (ip, tc, iptables); throws failure(bad_config) naming it when
// it fails.  `what` says which set-up ("netem", "host network").
void run_setup(const std::string& cmd, const std::string& what);

// Runs `fn` on a thread that has joined network namespace `ns` (sockets it opens live there),
// and waits for it.  Exceptions from `fn` reach the caller.
void run_in_namespace(const std::string& ns, const std::function<void()>& fn);

}  // namespace prfaas::netem
