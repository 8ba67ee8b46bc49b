#include "runtime/control/port_probe.h"

#include <cerrno>

#include "runtime/common/errc.h"
#include "runtime/transport/socket.h"

namespace prfaas::control {

port_answer probe_port(const endpoint& at, std::chrono::milliseconds timeout) {
  try {
    const int err = transport::connect_result(at, timeout);
    if (err == 0) return port_answer::accepting;
    return err == ECONNREFUSED ? port_answer::refused : port_answer::silent;
  } catch (const failure&) {
    return port_answer::silent;  // a host that does not resolve
  }
}

}  // namespace prfaas::control
