#pragma once
// A local TCP port nothing listens on right now (bound, then released): for a test that needs
// an endpoint to be refused first and served later.

#include <cstdint>

#include "runtime/transport/socket.h"

namespace prfaas::testing {

inline uint16_t free_port() {
  auto l = transport::listen_tcp({"127.0.0.1", 0});
  return transport::local_port(l);
}

}  // namespace prfaas::testing
