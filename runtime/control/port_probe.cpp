#include "runtime/control/port_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace prfaas::control {

port_answer probe_port(const endpoint& at, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(at.host.c_str(), std::to_string(at.port).c_str(), &hints, &found) != 0 || !found)
    return port_answer::silent;
  port_answer answer = port_answer::silent;
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, found->ai_protocol);
  if (fd >= 0) {
    int rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int ready;
      do ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
      while (ready < 0 && errno == EINTR);
      err = ETIMEDOUT;
      socklen_t len = sizeof err;
      if (ready > 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err == 0) answer = port_answer::accepting;
    else if (err == ECONNREFUSED) answer = port_answer::refused;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return answer;
}

}  // namespace prfaas::control
