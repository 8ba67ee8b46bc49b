#include "runtime/transport/pacer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "runtime/common/errc.h"

namespace prfaas::transport {
namespace {

static_assert(std::atomic<int64_t>::is_always_lock_free, "the shared pacer needs lock-free 64-bit atomics");

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

pacer::pacer(double gbps) { set_gbps(gbps); }

pacer::pacer(double gbps, const std::string& shared_file) {
  const int fd = ::open(shared_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw failure(errc::bad_config, "cannot open the shared link file " + shared_file + ": " + std::strerror(errno));
  // A fresh file is zeros: an unpaced, uncut link whose next slot is now.
  void* p = ::ftruncate(fd, sizeof(state)) == 0
                ? ::mmap(nullptr, sizeof(state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                : MAP_FAILED;
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) throw failure(errc::bad_config, "cannot map the shared link file " + shared_file + ": " + std::strerror(err));
  s_ = static_cast<state*>(p);
  mapped_ = true;
  set_gbps(gbps);
}

pacer::~pacer() {
  if (mapped_) ::munmap(s_, sizeof(state));
}

void pacer::set_gbps(double gbps) { s_->bits_per_s.store(gbps > 0 ? static_cast<int64_t>(gbps * 1e9) : 0); }

double pacer::gbps() const { return static_cast<double>(s_->bits_per_s.load()) / 1e9; }

void pacer::set_cut(bool cut) { s_->cut.store(cut ? 1 : 0); }

bool pacer::is_cut() const { return s_->cut.load() != 0; }

void pacer::acquire(size_t bytes) {
  const int64_t bits_per_s = s_->bits_per_s.load();
  if (bits_per_s <= 0) return;
  const int64_t cost = static_cast<int64_t>(static_cast<double>(bytes) * 8e9 / static_cast<double>(bits_per_s));
  const int64_t now = now_ns();
  int64_t next = s_->next_ns.load();
  int64_t start;
  do {
    start = std::max(next, now);
  } while (!s_->next_ns.compare_exchange_weak(next, start + cost));
  if (start > now) std::this_thread::sleep_for(std::chrono::nanoseconds(start - now));
}

}  // namespace prfaas::transport
