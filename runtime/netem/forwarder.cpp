#include "runtime/netem/forwarder.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace prfaas::netem {

forwarder::forwarder(int fd_a, int fd_b, link_params a_to_b, link_params b_to_a, uint64_t seed, size_t max_packet,
                     size_t max_held_bytes)
    : max_packet_(max_packet),
      max_held_bytes_(max_held_bytes),
      lanes_{lane(fd_a, fd_b, a_to_b, seed), lane(fd_b, fd_a, b_to_a, seed ^ 0x9e3779b97f4a7c15ull)} {
  for (auto& l : lanes_) {
    l.reader = std::thread([this, &l] { read_loop(l); });
    l.writer = std::thread([this, &l] { write_loop(l); });
  }
}

forwarder::~forwarder() { stop(); }

void forwarder::stop() {
  if (stopping_.exchange(true)) return;
  for (auto& l : lanes_) {
    {
      std::lock_guard lock(l.mutex);
    }
    l.ready.notify_all();
    if (l.reader.joinable()) l.reader.join();
    if (l.writer.joinable()) l.writer.join();
  }
}

link_counters forwarder::counters(int direction) const {
  const auto& l = lanes_[direction & 1];
  std::lock_guard lock(l.mutex);
  return l.model.counters();
}

uint64_t forwarder::held_drops(int direction) const {
  const auto& l = lanes_[direction & 1];
  std::lock_guard lock(l.mutex);
  return l.held_drops;
}

void forwarder::read_loop(lane& l) {
  std::vector<uint8_t> buf(max_packet_);
  while (!stopping_.load()) {
    pollfd p{l.from, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // a tenth of a second: notice stop()
    const ssize_t n = ::read(l.from, buf.data(), buf.size());
    if (n <= 0) {
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      break;  // the device went away
    }
    const auto now = clock::now();
    std::lock_guard lock(l.mutex);
    const auto at = l.model.admit(static_cast<size_t>(n), now);
    if (!at) continue;
    if (l.held_bytes + static_cast<size_t>(n) > max_held_bytes_) {
      ++l.held_drops;
      continue;
    }
    l.held.push({*at, l.seq++, std::vector<uint8_t>(buf.begin(), buf.begin() + n)});
    l.held_bytes += static_cast<size_t>(n);
    l.ready.notify_one();
  }
}

void forwarder::write_loop(lane& l) {
  std::unique_lock lock(l.mutex);
  while (!stopping_.load()) {
    if (l.held.empty()) {
      l.ready.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    const auto at = l.held.top().at;
    if (clock::now() < at) {
      // A packet admitted meanwhile may arrive sooner (a reordered one waits longer).
      l.ready.wait_until(lock, at);
      continue;
    }
    packet p = std::move(const_cast<packet&>(l.held.top()));
    l.held.pop();
    l.held_bytes -= p.bytes.size();
    lock.unlock();
    // A write the device refuses (it went down) loses the packet, as a wire would.
    (void)!::write(l.to, p.bytes.data(), p.bytes.size());
    lock.lock();
  }
}

}  // namespace prfaas::netem
