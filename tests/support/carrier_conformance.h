#pragma once
// The carrier conformance suite: what every carrier (runtime/transport/carrier.h) promises,
// written once and run against each (tests/runtime/transport/carrier_test.cpp: TCP and
// loopback; the NCCL carrier's run needs a GPU: tests/gpu).  Each check takes a factory for the
// carrier under test and host memory for the transfers.

#include <catch2/catch.hpp>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/transport/carrier.h"
#include "tests/support/transport_fixtures.h"

namespace prfaas::testing {

using carrier_factory = std::function<std::shared_ptr<transport::carrier>()>;

// Page-aligned memory whose pages can be taken away (PROT_NONE), as a freed block would be: a
// carrier that still reads it afterwards faults (a user-space read crashes the test; a kernel
// read fails the send with EFAULT, counted in link_stats.source_faults).
class guarded_memory {
 public:
  explicit guarded_memory(size_t bytes) : bytes_((bytes + page() - 1) / page() * page()) {
    base_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(base_ != MAP_FAILED);
  }
  ~guarded_memory() { ::munmap(base_, bytes_); }
  guarded_memory(const guarded_memory&) = delete;
  guarded_memory& operator=(const guarded_memory&) = delete;
  std::byte* data() { return static_cast<std::byte*>(base_); }
  void take_away() { REQUIRE(::mprotect(base_, bytes_, PROT_NONE) == 0); }
  static size_t page() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

 private:
  size_t bytes_;
  void* base_;
};

// Several layers of equal payloads over one buffer: layer l, payload i at (l * count + i) * bytes;
// the last layer is a linear-attention state.
class layered_transfer final : public transport::transfer_view {
 public:
  layered_transfer(std::byte* base, int layers, int count, size_t bytes)
      : base_(base), layers_(layers), count_(count), bytes_(bytes) {}
  int layers() const override { return layers_; }
  int payload_count(int) const override { return count_; }
  transport::payload_kind kind(int layer) const override {
    return layer == layers_ - 1 ? transport::payload_kind::state : transport::payload_kind::block;
  }
  std::span<std::byte> payload(int layer, int index) override {
    return {base_ + (static_cast<size_t>(layer) * count_ + index) * bytes_, bytes_};
  }
  uint32_t token_count() const override { return static_cast<uint32_t>(count_ * 16); }
  size_t total() const { return static_cast<size_t>(layers_) * count_ * bytes_; }

 private:
  std::byte* base_;
  int layers_, count_;
  size_t bytes_;
};

inline void fill_pattern(std::byte* p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n / 8; ++i) {
    const uint64_t v = (i + seed) * 0x9e3779b97f4a7c15ull ^ seed;
    std::memcpy(p + i * 8, &v, 8);
  }
}

inline transport::receiver_options conformance_receiver(const std::string& secret = "") {
  transport::receiver_options ro;
  ro.secret = secret;
  ro.receive_timeout = std::chrono::milliseconds(2000);
  ro.resume_window = std::chrono::milliseconds(1500);
  return ro;
}

inline transport::link_options conformance_link(const std::string& secret = "", int connections = 4) {
  auto o = opts("conformance-sender", connections, secret);
  o.resume_timeout = std::chrono::milliseconds(1000);
  o.receive_timeout = std::chrono::milliseconds(2000);
  return o;
}

inline auto soon(std::chrono::milliseconds d = std::chrono::milliseconds(10000)) {
  return std::chrono::steady_clock::now() + d;
}

// Every payload lands byte for byte; the sink hears each layer once, then complete once; the
// acknowledged prefix only grows, to every layer; finish() returns; the request is then
// forgotten on the link.
inline void check_lands_and_acknowledges(const carrier_factory& make) {
  auto c = make();
  constexpr int kLayers = 4, kCount = 6;
  constexpr size_t kBytes = 64 << 10;
  std::vector<uint64_t> src_words(kLayers * kCount * kBytes / 8), dst_words(src_words.size(), 0);
  auto* src_base = reinterpret_cast<std::byte*>(src_words.data());
  auto* dst_base = reinterpret_cast<std::byte*>(dst_words.data());
  fill_pattern(src_base, src_words.size() * 8, 7);
  layered_transfer src(src_base, kLayers, kCount, kBytes), dst(dst_base, kLayers, kCount, kBytes);
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver("s"));
  rx->expect(11, dst);
  auto tx = c->connect({"127.0.0.1", rx->port()}, conformance_link("s"));
  std::vector<uint32_t> acked;
  for (int l = 0; l < kLayers; ++l) {
    tx->send_layer(11, src, l);
    acked.push_back(tx->progress_of(11).acked_layers);
  }
  tx->send_done(11, src.token_count(), 42);
  // Acknowledgements may still be on their way: watch the counter until it covers every layer.
  for (auto until = soon(); tx->progress_of(11).acked_layers < kLayers && std::chrono::steady_clock::now() < until;)
    acked.push_back(tx->progress_of(11).acked_layers), std::this_thread::sleep_for(std::chrono::milliseconds(1));
  acked.push_back(tx->progress_of(11).acked_layers);
  CHECK(std::is_sorted(acked.begin(), acked.end()));
  CHECK(acked.back() == kLayers);
  CHECK(tx->progress_of(11).payload_bytes_sent >= src.total());
  tx->finish(11, soon());
  CHECK_FALSE(tx->progress_of(11).known);  // finished: forgotten
  const auto end = log.wait_terminal(11);
  CHECK(end.kind == transfer_event::complete);
  CHECK(end.first_token == 42);
  auto layers = log.layers(11);
  std::sort(layers.begin(), layers.end());
  CHECK(layers == std::vector<int>{0, 1, 2, 3});
  CHECK(same_payloads(src, dst));
  CHECK(rx->stats().payload_bytes == src.total());
  CHECK(tx->idle());
  CHECK_FALSE(tx->broken());
}

// Payloads may go in parts and in any order: the layer is ready when its last one lands.
inline void check_parts_in_any_order(const carrier_factory& make) {
  auto c = make();
  constexpr int kLayers = 3, kCount = 8;
  constexpr size_t kBytes = 4096;
  std::vector<uint64_t> s(kLayers * kCount * kBytes / 8), d(s.size(), 0);
  fill_pattern(reinterpret_cast<std::byte*>(s.data()), s.size() * 8, 3);
  layered_transfer src(reinterpret_cast<std::byte*>(s.data()), kLayers, kCount, kBytes);
  layered_transfer dst(reinterpret_cast<std::byte*>(d.data()), kLayers, kCount, kBytes);
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(5, dst);
  auto tx = c->connect({"127.0.0.1", rx->port()}, conformance_link());
  for (int l = kLayers - 1; l >= 0; --l) {
    tx->send_payloads(5, src, l, kCount / 2, kCount);
    tx->send_payloads(5, src, l, 0, kCount / 2);
  }
  tx->send_done(5, src.token_count(), 1);
  tx->finish(5, soon());
  CHECK(log.wait_terminal(5).kind == transfer_event::complete);
  CHECK(same_payloads(src, dst));
}

// Backpressure: bytes posted and not yet written never exceed the window (plus one frame).
inline void check_backpressure(const carrier_factory& make) {
  auto c = make();
  constexpr int kCount = 256;
  constexpr size_t kBytes = 256 << 10;  // 64 MiB in all
  std::vector<uint64_t> s(kCount * kBytes / 8, 1), d(s.size(), 0);
  buffer_transfer src(reinterpret_cast<std::byte*>(s.data()), kCount, kBytes);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), kCount, kBytes);
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(9, dst);
  auto o = conformance_link();
  o.max_inflight_bytes = 2 << 20;
  auto tx = c->connect({"127.0.0.1", rx->port()}, o);
  std::atomic<bool> done{false};
  uint64_t worst = 0;
  std::thread watch([&] {
    while (!done) {
      worst = std::max(worst, tx->stats().bytes_in_flight);
      std::this_thread::yield();
    }
  });
  tx->send_layer(9, src, 0);
  tx->send_done(9, kCount, 0);
  tx->finish(9, soon());
  done = true;
  watch.join();
  CHECK(worst <= o.max_inflight_bytes + kBytes + 4096);
  CHECK(log.wait_terminal(9).kind == transfer_event::complete);
  CHECK(s == d);
}

// A sender without the secret is refused before any KV moves.
inline void check_refuses_wrong_secret(const carrier_factory& make) {
  auto c = make();
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver("right"));
  try {
    c->connect({"127.0.0.1", rx->port()}, conformance_link("wrong", 1));
    FAIL("a sender with the wrong secret was accepted");
  } catch (const failure& f) {
    CHECK(f.code() == errc::transport_failed);
    CHECK_THAT(f.what(), Catch::Contains("refused"));
  }
  CHECK(rx->stats().refused >= 1);
  CHECK(rx->stats().payload_bytes == 0);
}

// A request the receiver does not expect fails at finish, naming the cause; a cancelled one too,
// and nothing is written into its target after cancel() returned.
inline void check_unexpected_and_cancelled(const carrier_factory& make) {
  auto c = make();
  std::vector<uint64_t> s(8 * 4096 / 8, 5), d(s.size(), 0);
  buffer_transfer src(reinterpret_cast<std::byte*>(s.data()), 8, 4096);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), 8, 4096);
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  auto tx = c->connect({"127.0.0.1", rx->port()}, conformance_link("", 1));
  try {
    tx->send_layer(1, src, 0);
    tx->send_done(1, 8, 0);
    tx->finish(1, soon(std::chrono::milliseconds(3000)));
    FAIL("a transfer nobody expected was confirmed");
  } catch (const failure& f) {
    CHECK_THAT(f.what(), Catch::Contains("does not expect"));
  }
  rx->expect(2, dst);
  rx->cancel(2);
  try {
    tx->send_layer(2, src, 0);
    tx->send_done(2, 8, 0);
    tx->finish(2, soon(std::chrono::milliseconds(3000)));
    FAIL("a cancelled transfer was confirmed");
  } catch (const failure& f) {
    CHECK(f.code() == errc::transport_failed);
  }
  CHECK(std::all_of(d.begin(), d.end(), [](uint64_t w) { return w == 0; }));
}

// Ownership: forget() mid-transfer, then the source's memory is taken away at once (a pool
// would reuse it): no thread of the carrier reads it afterwards, and the link carries the next
// request intact.
inline void check_forget_releases_source(const carrier_factory& make, double paced_gbps) {
  auto c = make();
  constexpr int kCount = 64;
  constexpr size_t kBytes = 1 << 20;
  guarded_memory src_mem(kCount * kBytes);
  fill_pattern(src_mem.data(), kCount * kBytes, 1);
  buffer_transfer src(src_mem.data(), kCount, kBytes);
  std::vector<uint64_t> d(kCount * kBytes / 8, 0);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), kCount, kBytes);
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(1, dst);
  auto o = conformance_link();
  o.kernel_pacing_gbps = paced_gbps;  // slow enough that writers sit inside their sends
  o.max_inflight_bytes = size_t{kCount} * kBytes;
  auto tx = c->connect({"127.0.0.1", rx->port()}, o);
  tx->send_layer(1, src, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  tx->forget(1);
  src_mem.take_away();
  rx->cancel(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(tx->stats().source_faults == 0);
  // The link goes on: the next request lands intact.
  std::vector<uint64_t> s2(16 * 4096 / 8, 9), d2(s2.size(), 0);
  buffer_transfer src2(reinterpret_cast<std::byte*>(s2.data()), 16, 4096);
  buffer_transfer dst2(reinterpret_cast<std::byte*>(d2.data()), 16, 4096);
  rx->expect(2, dst2);
  tx->send_layer(2, src2, 0);
  tx->send_done(2, 16, 0);
  tx->finish(2, soon());
  CHECK(s2 == d2);
  CHECK(tx->stats().source_faults == 0);
}

// Close: a listener that goes away fails the transfers of links to it (TCP after its resume
// timeout), and finish() says so instead of hanging.
inline void check_listener_gone(const carrier_factory& make) {
  auto c = make();
  std::vector<uint64_t> s(8 * 4096 / 8, 5), d(s.size(), 0);
  buffer_transfer src(reinterpret_cast<std::byte*>(s.data()), 8, 4096);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), 8, 4096);
  event_log log;
  auto rx = c->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(3, dst);
  auto tx = c->connect({"127.0.0.1", rx->port()}, conformance_link("", 2));
  tx->send_payloads(3, src, 0, 0, 4);
  rx.reset();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    tx->send_payloads(3, src, 0, 4, 8);
    tx->send_done(3, 8, 0);
    tx->finish(3, soon());
    FAIL("a transfer to a listener that is gone was confirmed");
  } catch (const failure& f) {
    CHECK((f.code() == errc::transport_failed || f.code() == errc::unreachable));
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(8));
}

}  // namespace prfaas::testing
