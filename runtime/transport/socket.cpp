#include "runtime/transport/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/common/errc.h"

namespace prfaas::transport {
namespace {

std::string sys_error() { return std::strerror(errno); }

sockaddr_in resolve(const endpoint& e) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(e.port);
  const std::string host = e.host == "localhost" ? "127.0.0.1" : e.host;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1) return addr;
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res)
    throw failure(errc::unreachable, "cannot resolve host '" + e.host + "'");
  addr.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return addr;
}

}  // namespace

socket_fd& socket_fd::operator=(socket_fd&& o) noexcept {
  if (this != &o) { reset(); fd_ = o.release(); }
  return *this;
}

void socket_fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void socket_fd::shutdown_both() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

socket_fd listen_tcp(const endpoint& at, int backlog) {
  const sockaddr_in addr = resolve(at);
  socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw failure(errc::unreachable, "socket: " + sys_error());
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    throw failure(err == EADDRINUSE ? errc::port_in_use : errc::unreachable,
                  "cannot listen on " + at.str() + ": " + std::strerror(err));
  }
  if (::listen(s.get(), backlog) != 0) throw failure(errc::unreachable, "listen: " + sys_error());
  return s;
}

uint16_t local_port(const socket_fd& s) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

socket_fd accept_tcp(const socket_fd& listener) {
  for (;;) {
    const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return socket_fd(fd);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    return socket_fd();  // listener shut down or closed
  }
}

namespace {

// A non-blocking socket's connect to `to`, waited for up to `timeout`: 0, or the errno that
// ended it (ETIMEDOUT when nothing answered in time).
int connect_within(const socket_fd& s, const endpoint& to, std::chrono::milliseconds timeout) {
  const sockaddr_in addr = resolve(to);
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd p{s.get(), POLLOUT, 0};
  int n;
  do n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (n < 0 && errno == EINTR);
  if (n <= 0) return ETIMEDOUT;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

}  // namespace

int connect_result(const endpoint& to, std::chrono::milliseconds timeout) {
  socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) throw failure(errc::unreachable, "socket: " + sys_error());
  return connect_within(s, to, timeout);
}

socket_fd connect_tcp(const endpoint& to, std::chrono::milliseconds timeout) {
  socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) throw failure(errc::unreachable, "socket: " + sys_error());
  if (const int err = connect_within(s, to, timeout); err == ETIMEDOUT)
    throw failure(errc::unreachable, "timed out connecting to " + to.str());
  else if (err != 0)
    throw failure(errc::unreachable, "cannot connect to " + to.str() + ": " + std::strerror(err));
  ::fcntl(s.get(), F_SETFL, ::fcntl(s.get(), F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A peer that stops reading (hung, not dead) must not hold a sender forever.
  timeval send_timeout{10, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  return s;
}

void set_receive_timeout(const socket_fd& s, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void set_max_pacing_rate(const socket_fd& s, uint64_t bytes_per_s) {
  // A paced socket drains slowly: with its whole send buffer open it would take far more than its
  // share of a link's frames (writers take the next frame when their send returns).  Holding at
  // most a quarter second of its rate unsent keeps the connections' shares even.
  const int unsent = static_cast<int>(std::clamp<uint64_t>(bytes_per_s / 4, 16 << 10, 4 << 20));
  ::setsockopt(s.get(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof unsent);
  // A 64-bit rate since Linux 4.20; a 32-bit one before, which caps at 4 GB/s.
  if (::setsockopt(s.get(), SOL_SOCKET, SO_MAX_PACING_RATE, &bytes_per_s, sizeof bytes_per_s) == 0) return;
  const unsigned int narrow = static_cast<unsigned int>(std::min<uint64_t>(bytes_per_s, ~0u));
  if (::setsockopt(s.get(), SOL_SOCKET, SO_MAX_PACING_RATE, &narrow, sizeof narrow) != 0)
    throw failure(errc::transport_failed, "SO_MAX_PACING_RATE: " + sys_error());
}

bool wait_readable(const socket_fd& s, std::chrono::milliseconds timeout) {
  pollfd p{s.get(), POLLIN, 0};
  for (;;) {
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n >= 0) return n > 0;
    if (errno != EINTR) return true;  // let the read report the error
  }
}

size_t read_some_v(const socket_fd& s, std::span<iovec> iov) {
  for (;;) {
    const ssize_t n = ::readv(s.get(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      throw failure(errc::transport_failed, "receive timed out: the peer stopped sending");
    throw failure(errc::transport_failed, "recv: " + sys_error());
  }
}

size_t read_some(const socket_fd& s, std::span<std::byte> buf) {
  iovec v{buf.data(), buf.size()};
  return read_some_v(s, std::span(&v, 1));
}

bool read_exact(const socket_fd& s, std::span<std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::recv(s.get(), buf.data() + done, buf.size() - done, 0);
    if (n > 0) { done += static_cast<size_t>(n); continue; }
    if (n == 0) {
      if (done == 0) return false;
      throw failure(errc::transport_failed, "peer closed the connection mid-frame");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      throw failure(errc::transport_failed, "receive timed out: the peer stopped sending");
    throw failure(errc::transport_failed, "recv: " + sys_error());
  }
  return true;
}

void write_all(const socket_fd& s, std::span<iovec> iov, size_t* written) {
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = &iov[first];
    msg.msg_iovlen = iov.size() - first;
    ssize_t n = ::sendmsg(s.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        throw failure(errc::transport_failed, "send timed out: the peer stopped reading");
      // The kernel could not read what it was given: memory freed while it was being sent.
      if (errno == EFAULT) throw failure(errc::internal, "send: a payload's memory is gone (EFAULT)");
      throw failure(errc::transport_failed, "send: " + sys_error());
    }
    if (written) *written += static_cast<size_t>(n);
    // Advance past what the kernel took; a partial write resumes mid-iovec.
    while (n > 0 && first < iov.size()) {
      const size_t take = std::min(static_cast<size_t>(n), iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      n -= static_cast<ssize_t>(take);
      if (iov[first].iov_len == 0) ++first;
    }
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
  }
}

}  // namespace prfaas::transport
