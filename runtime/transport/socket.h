#pragma once
// Blocking TCP sockets for the KV data plane: an owned fd and the few calls the sender and
// receiver need.  Errors are failure(errc::...) naming the peer; EINTR is retried; SIGPIPE is
// never raised (MSG_NOSIGNAL), so a dead peer is an error, not a dead process.

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

#include "runtime/common/endpoint.h"

namespace prfaas::transport {

class socket_fd {
 public:
  socket_fd() = default;
  explicit socket_fd(int fd) : fd_(fd) {}
  socket_fd(socket_fd&& o) noexcept : fd_(o.release()) {}
  socket_fd& operator=(socket_fd&& o) noexcept;
  ~socket_fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  void reset();
  // Unblocks a thread sitting in read on this socket (used on shutdown).
  void shutdown_both();

 private:
  int fd_ = -1;
};

// Listens on `at` (port 0: any free port). Throws failure(port_in_use) or failure(unreachable).
socket_fd listen_tcp(const endpoint& at, int backlog = 64);
uint16_t local_port(const socket_fd& s);
// Accepts one connection; returns an empty socket_fd once the listener is shut down.
socket_fd accept_tcp(const socket_fd& listener);
// Connects with TCP_NODELAY within `timeout`. Throws failure(unreachable).
socket_fd connect_tcp(const endpoint& to, std::chrono::milliseconds timeout);
// One connect within `timeout`, closed at once: 0 when it completed, else the errno that ended
// it (ECONNREFUSED: nothing listens there; ETIMEDOUT: no answer in time).  Throws
// failure(unreachable) for a host that does not resolve.
int connect_result(const endpoint& to, std::chrono::milliseconds timeout);

// A read that waits longer than `timeout` for a byte fails (failure(transport_failed), "timed
// out"): a peer that stops sending mid-frame (hung, not dead) does not hold a reader forever.
void set_receive_timeout(const socket_fd& s, std::chrono::milliseconds timeout);
// TCP's own pacing (SO_MAX_PACING_RATE, no fq qdisc needed): the kernel spaces this socket's
// segments to at most `bytes_per_s`, and keeps at most a quarter second of it unsent in the
// socket (TCP_NOTSENT_LOWAT).  Throws failure(transport_failed) when the kernel refuses.
void set_max_pacing_rate(const socket_fd& s, uint64_t bytes_per_s);
// Waits up to `timeout` for bytes (or an EOF) to read.  False on a timeout.
bool wait_readable(const socket_fd& s, std::chrono::milliseconds timeout);

// Reads exactly buf.size() bytes. Returns false on a clean EOF before the first byte; throws
// failure(transport_failed) on an error or an EOF inside the buffer.
// One recv / readv: the bytes that were there (at least one; 0 at EOF).  Throws like read_exact.
size_t read_some(const socket_fd& s, std::span<std::byte> buf);
size_t read_some_v(const socket_fd& s, std::span<iovec> iov);
bool read_exact(const socket_fd& s, std::span<std::byte> buf);
// Writes every byte of the iovecs (one sendmsg when the kernel takes it all). Throws
// failure(transport_failed).  `iov` is consumed (advanced in place).  `written` (optional)
// counts the bytes the kernel took, also when it throws part-way.
void write_all(const socket_fd& s, std::span<iovec> iov, size_t* written = nullptr);

}  // namespace prfaas::transport
