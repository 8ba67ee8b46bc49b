// What one TCP connect can tell of a process: a listening port accepts, a port nobody listens on
// refuses (the sign a standby router takes for a dead leader), and no answer is neither.

#include <catch2/catch.hpp>

#include <chrono>

#include "runtime/control/port_probe.h"
#include "runtime/transport/socket.h"

using namespace prfaas;
using namespace prfaas::control;

TEST_CASE("a port probe: accepting while a process listens, refused once it is gone") {
  auto listener = transport::listen_tcp({"127.0.0.1", 0});
  const endpoint at{"127.0.0.1", transport::local_port(listener)};
  CHECK(probe_port(at, std::chrono::milliseconds(500)) == port_answer::accepting);
  listener.reset();
  CHECK(probe_port(at, std::chrono::milliseconds(500)) == port_answer::refused);
}

TEST_CASE("a port probe of a name that does not resolve is silent, not refused") {
  CHECK(probe_port({"no-such-host.invalid", 7000}, std::chrono::milliseconds(100)) == port_answer::silent);
}
