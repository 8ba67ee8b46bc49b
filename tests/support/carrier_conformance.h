#pragma once
// The carrier conformance suite: what every carrier (runtime/transport/carrier.h) promises,
// written once and run against each: tests/runtime/transport/carrier_test.cpp (TCP, loopback),
// tests/gpu/nccl_link_test.cpp (NCCL, device memory).  Each check takes a carrier_under_test:
// the carriers of the two ends (one and the same for TCP and loopback; NCCL's on two devices)
// and the memory its transfers live in.

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

// Where a check's transfers live: host memory, or a device's (NCCL).
struct test_memory {
  std::function<std::byte*(size_t)> alloc;  // zeroed, 8-byte aligned
  std::function<void(std::byte*)> release;
  std::function<void(std::byte* dst, const std::byte* host, size_t)> upload;
  std::function<void(std::byte* host, const std::byte* src, size_t)> download;

  static test_memory host() {
    return {[](size_t n) { return static_cast<std::byte*>(std::calloc(n / 8 + 1, 8)); },
            [](std::byte* p) { std::free(p); },
            [](std::byte* d, const std::byte* h, size_t n) { std::memcpy(d, h, n); },
            [](std::byte* h, const std::byte* s, size_t n) { std::memcpy(h, s, n); }};
  }
};

// A buffer of 64-bit words in a test_memory.
class test_buffer {
 public:
  test_buffer(const test_memory& m, size_t words) : m_(m), words_(words), p_(m.alloc(words * 8)) {}
  ~test_buffer() { m_.release(p_); }
  test_buffer(const test_buffer&) = delete;
  test_buffer& operator=(const test_buffer&) = delete;
  std::byte* data() { return p_; }
  void write(const std::vector<uint64_t>& w) { m_.upload(p_, reinterpret_cast<const std::byte*>(w.data()), w.size() * 8); }
  std::vector<uint64_t> read() const {
    std::vector<uint64_t> w(words_);
    m_.download(reinterpret_cast<std::byte*>(w.data()), p_, words_ * 8);
    return w;
  }

 private:
  const test_memory& m_;
  size_t words_;
  std::byte* p_;
};

struct carrier_under_test {
  // The receiving end's carrier and the sending end's (TCP and loopback: the same object).
  std::function<std::pair<std::shared_ptr<transport::carrier>, std::shared_ptr<transport::carrier>>()> make;
  test_memory memory = test_memory::host();           // the sending end's buffers
  test_memory receiver_memory = test_memory::host();  // the receiving end's
};

// One carrier object for both ends.
inline carrier_under_test same_carrier(std::function<std::shared_ptr<transport::carrier>()> make) {
  return {[make] {
    auto c = make();
    return std::make_pair(c, c);
  }};
}

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

inline std::vector<uint64_t> pattern_words(size_t words, uint64_t seed) {
  std::vector<uint64_t> w(words);
  fill_pattern(reinterpret_cast<std::byte*>(w.data()), words * 8, seed);
  return w;
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
inline void check_lands_and_acknowledges(const carrier_under_test& t) {
  auto [rc, tc] = t.make();
  constexpr int kLayers = 4, kCount = 6;
  constexpr size_t kBytes = 64 << 10, kWords = kLayers * kCount * kBytes / 8;
  const auto expected = pattern_words(kWords, 7);
  test_buffer s(t.memory, kWords), d(t.receiver_memory, kWords);
  s.write(expected);
  layered_transfer src(s.data(), kLayers, kCount, kBytes), dst(d.data(), kLayers, kCount, kBytes);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver("s"));
  rx->expect(11, dst);
  auto tx = tc->connect({"127.0.0.1", rx->port()}, conformance_link("s"));
  std::vector<uint32_t> acked;
  for (int l = 0; l < kLayers; ++l) {
    tx->send_layer(11, src, l);
    acked.push_back(tx->progress_of(11).acked_layers);
  }
  tx->send_done(11, src.token_count(), 42);
  // Acknowledgements may still be on their way (NCCL's are read by finish()).
  for (auto until = soon(std::chrono::milliseconds(2000));
       tx->progress_of(11).acked_layers < kLayers && std::chrono::steady_clock::now() < until;)
    acked.push_back(tx->progress_of(11).acked_layers), std::this_thread::sleep_for(std::chrono::milliseconds(1));
  acked.push_back(tx->progress_of(11).acked_layers);
  CHECK(std::is_sorted(acked.begin(), acked.end()));
  CHECK(tx->progress_of(11).payload_bytes_sent >= src.total());
  tx->finish(11, soon());
  CHECK_FALSE(tx->progress_of(11).known);  // finished: forgotten
  const auto end = log.wait_terminal(11);
  CHECK(end.kind == transfer_event::complete);
  CHECK(end.first_token == 42);
  auto layers = log.layers(11);
  std::sort(layers.begin(), layers.end());
  CHECK(layers == std::vector<int>{0, 1, 2, 3});
  CHECK(d.read() == expected);
  CHECK(rx->stats().payload_bytes == src.total());
  CHECK(tx->idle());
  CHECK_FALSE(tx->broken());
}

// The acknowledged prefix reaches every layer before finish() for carriers whose acks arrive on
// their own (TCP, loopback).
inline void check_acknowledges_before_finish(const carrier_under_test& t) {
  auto [rc, tc] = t.make();
  constexpr int kLayers = 3, kCount = 4;
  constexpr size_t kBytes = 4096, kWords = kLayers * kCount * kBytes / 8;
  test_buffer s(t.memory, kWords), d(t.receiver_memory, kWords);
  s.write(pattern_words(kWords, 2));
  layered_transfer src(s.data(), kLayers, kCount, kBytes), dst(d.data(), kLayers, kCount, kBytes);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(12, dst);
  auto tx = tc->connect({"127.0.0.1", rx->port()}, conformance_link());
  for (int l = 0; l < kLayers; ++l) tx->send_layer(12, src, l);
  tx->send_done(12, src.token_count(), 0);
  for (auto until = soon(); !tx->progress_of(12).complete && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(tx->progress_of(12).acked_layers == kLayers);
  CHECK(tx->progress_of(12).complete);
  tx->finish(12, soon());
}

// Payloads may go in parts and in any order: the layer is ready when its last one lands.
inline void check_parts_in_any_order(const carrier_under_test& t) {
  auto [rc, tc] = t.make();
  constexpr int kLayers = 3, kCount = 8;
  constexpr size_t kBytes = 4096, kWords = kLayers * kCount * kBytes / 8;
  const auto expected = pattern_words(kWords, 3);
  test_buffer s(t.memory, kWords), d(t.receiver_memory, kWords);
  s.write(expected);
  layered_transfer src(s.data(), kLayers, kCount, kBytes), dst(d.data(), kLayers, kCount, kBytes);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(5, dst);
  auto tx = tc->connect({"127.0.0.1", rx->port()}, conformance_link());
  for (int l = kLayers - 1; l >= 0; --l) {
    tx->send_payloads(5, src, l, kCount / 2, kCount);
    tx->send_payloads(5, src, l, 0, kCount / 2);
  }
  tx->send_done(5, src.token_count(), 1);
  tx->finish(5, soon());
  CHECK(log.wait_terminal(5).kind == transfer_event::complete);
  CHECK(d.read() == expected);
}

// Backpressure: bytes posted and not yet written never exceed the window (plus one frame).
inline void check_backpressure(const carrier_under_test& t) {
  auto [rc, tc] = t.make();
  constexpr int kCount = 256;
  constexpr size_t kBytes = 256 << 10, kWords = kCount * kBytes / 8;  // 64 MiB in all
  const auto expected = pattern_words(kWords, 9);
  test_buffer s(t.memory, kWords), d(t.receiver_memory, kWords);
  s.write(expected);
  buffer_transfer src(s.data(), kCount, kBytes), dst(d.data(), kCount, kBytes);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(9, dst);
  auto o = conformance_link();
  o.max_inflight_bytes = 2 << 20;
  auto tx = tc->connect({"127.0.0.1", rx->port()}, o);
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
  CHECK(d.read() == expected);
}

// A sender without the secret is refused before any KV moves.
inline void check_refuses_wrong_secret(const carrier_under_test& t) {
  auto [rc, tc] = t.make();
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver("right"));
  try {
    tc->connect({"127.0.0.1", rx->port()}, conformance_link("wrong", 1));
    FAIL("a sender with the wrong secret was accepted");
  } catch (const failure& f) {
    CHECK(f.code() == errc::transport_failed);
    CHECK_THAT(f.what(), Catch::Contains("refused"));
  }
  for (auto until = soon(std::chrono::milliseconds(2000)); rx->stats().refused == 0 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(rx->stats().refused >= 1);
  CHECK(rx->stats().payload_bytes == 0);
}

// A request the receiver does not expect fails at finish, naming the cause; a cancelled one too,
// and nothing is written into its target after cancel() returned.
inline void check_unexpected_and_cancelled(const carrier_under_test& t) {
  auto [rc, tc] = t.make();
  constexpr size_t kWords = 8 * 4096 / 8;
  test_buffer s(t.memory, kWords), d(t.receiver_memory, kWords);
  s.write(std::vector<uint64_t>(kWords, 5));
  buffer_transfer src(s.data(), 8, 4096), dst(d.data(), 8, 4096);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  auto tx = tc->connect({"127.0.0.1", rx->port()}, conformance_link("", 1));
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
    CHECK((f.code() == errc::transport_failed || f.code() == errc::deadline_exceeded));
  }
  const auto landed = d.read();
  CHECK(std::all_of(landed.begin(), landed.end(), [](uint64_t w) { return w == 0; }));
}

// Ownership: forget() mid-transfer, then the source's memory is taken away at once (a pool
// would reuse it): no thread of the carrier reads it afterwards, and the link carries the next
// request intact.
inline void check_forget_releases_source(const carrier_under_test& t, double paced_gbps) {  // host memory
  auto [rc, tc] = t.make();
  constexpr int kCount = 64;
  constexpr size_t kBytes = 1 << 20;
  guarded_memory src_mem(kCount * kBytes);
  fill_pattern(src_mem.data(), kCount * kBytes, 1);
  buffer_transfer src(src_mem.data(), kCount, kBytes);
  std::vector<uint64_t> d(kCount * kBytes / 8, 0);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), kCount, kBytes);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(1, dst);
  auto o = conformance_link();
  o.kernel_pacing_gbps = paced_gbps;  // slow enough that writers sit inside their sends
  o.max_inflight_bytes = size_t{kCount} * kBytes;
  auto tx = tc->connect({"127.0.0.1", rx->port()}, o);
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
inline void check_listener_gone(const carrier_under_test& t) {  // host memory
  auto [rc, tc] = t.make();
  std::vector<uint64_t> s(8 * 4096 / 8, 5), d(s.size(), 0);
  buffer_transfer src(reinterpret_cast<std::byte*>(s.data()), 8, 4096);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), 8, 4096);
  event_log log;
  auto rx = rc->listen({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx->expect(3, dst);
  auto tx = tc->connect({"127.0.0.1", rx->port()}, conformance_link("", 2));
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
