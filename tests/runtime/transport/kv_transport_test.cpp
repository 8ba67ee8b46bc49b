// Sender and receiver over real loopback sockets: KV lands in place, layer by layer; frames that
// do not belong are refused; a broken connection fails the requests it carried.

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "runtime/common/errc.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"

using namespace prfaas;
using namespace prfaas::transport;
using namespace std::chrono_literals;

namespace {

model::model_config small_config() {
  model::model_config c;
  c.d_model = 64; c.n_layers = 4; c.heads = 4; c.kv_heads = 2; c.head_dim = 16;
  c.linear_heads = 2; c.linear_key_dim = 16; c.linear_value_dim = 16; c.ffn_dim = 128;
  c.block_tokens = 8; c.max_context = 256;
  return c;
}

// Collects receiver events; waits for a terminal one.
struct event_log {
  std::mutex m;
  std::condition_variable cv;
  std::vector<kv_receiver::event> events;
  void operator()(const kv_receiver::event& e) {
    std::lock_guard l(m);
    events.push_back(e);
    cv.notify_all();
  }
  kv_receiver::event wait_terminal(uint64_t request) {
    std::unique_lock l(m);
    kv_receiver::event out{kv_receiver::event::failed, request, -1, 0, "timed out waiting"};
    cv.wait_for(l, 5s, [&] {
      for (auto& e : events)
        if (e.request == request && e.kind != kv_receiver::event::layer_ready) { out = e; return true; }
      return false;
    });
    return out;
  }
  std::vector<int> layers(uint64_t request) {
    std::lock_guard l(m);
    std::vector<int> out;
    for (auto& e : events)
      if (e.request == request && e.kind == kv_receiver::event::layer_ready) out.push_back(e.layer);
    return out;
  }
};

bool same_kv(kv::sequence_kv& a, kv::sequence_kv& b) {
  for (int l = 0; l < a.config().n_layers; ++l) {
    if (a.payload_count(l) != b.payload_count(l)) return false;
    for (int i = 0; i < a.payload_count(l); ++i) {
      auto x = a.payload(l, i), y = b.payload(l, i);
      if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size()) != 0) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("a prefill streamed layer by layer lands byte for byte in the registered sequence") {
  const auto c = small_config();
  model::hybrid_model m(c);
  kv::block_pool src_pool(c.block_bytes(), 64), dst_pool(c.block_bytes(), 64);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  std::vector<int32_t> prompt(45);
  for (int i = 0; i < 45; ++i) prompt[i] = (i * 37) % 256;

  kv::sequence_kv dst(c, dst_pool);
  dst.reserve(45 + 8);
  dst.set_tokens(45);
  rx.expect(7, dst);

  kv_sender tx({"127.0.0.1", rx.port()}, "test-prefill", 2s);
  kv::sequence_kv src(c, src_pool);
  const auto first = model::greedy(m.prefill(prompt, src, [&](int l) { tx.send_layer(7, src, l); }));
  tx.send_done(7, src.tokens(), first);

  const auto done = log.wait_terminal(7);
  REQUIRE(done.kind == kv_receiver::event::complete);
  CHECK(done.first_token == first);
  CHECK(log.layers(7) == std::vector<int>{0, 1, 2, 3});
  CHECK(same_kv(src, dst));
  const auto stats = rx.stats();
  CHECK(stats.payload_bytes == static_cast<uint64_t>(src.total_payload_bytes()));
  CHECK(tx.payload_bytes_sent() == stats.payload_bytes);

  // Decoding from the received KV continues exactly as from the original.
  CHECK(model::greedy(m.decode_step(first, dst)) == model::greedy(m.decode_step(first, src)));
}

TEST_CASE("frames for a request nobody expects are dropped, never written") {
  const auto c = small_config();
  kv::block_pool pool(c.block_bytes(), 16);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  kv::sequence_kv src(c, pool);
  src.reserve(10);
  src.set_tokens(10);
  kv_sender tx({"127.0.0.1", rx.port()}, "stranger", 2s);
  tx.send_layer(99, src, 0);
  tx.send_layer(99, src, 3);
  tx.send_done(99, 10, 1);
  // A request registered afterwards on the same connection still works: the stream stayed in sync.
  kv::sequence_kv dst(c, pool);
  dst.reserve(10);
  dst.set_tokens(10);
  rx.expect(5, dst);
  for (int l = 0; l < c.n_layers; ++l) tx.send_layer(5, src, l);
  tx.send_done(5, 10, 3);
  CHECK(log.wait_terminal(5).kind == kv_receiver::event::complete);
  const auto stats = rx.stats();
  CHECK(stats.frames_rejected >= 5);  // 2 payloads, 2 layer_done, 1 request_done
  CHECK(stats.dropped_bytes == static_cast<uint64_t>(c.linear_state_bytes() + 2 * c.block_bytes()));
}

TEST_CASE("a frame that contradicts the registered layout fails the request") {
  const auto c = small_config();
  kv::block_pool pool(c.block_bytes(), 16);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  kv::sequence_kv src(c, pool), dst(c, pool);
  src.reserve(30);
  src.set_tokens(30);  // 4 blocks per full layer
  dst.reserve(30);
  dst.set_tokens(10);  // the receiver expects 2
  rx.expect(1, dst);
  kv_sender tx({"127.0.0.1", rx.port()}, "confused", 2s);
  tx.send_layer(1, src, 3);
  const auto e = log.wait_terminal(1);
  CHECK(e.kind == kv_receiver::event::failed);
  CHECK_THAT(e.error, Catch::Contains("tokens"));
}

TEST_CASE("a connection that breaks mid-transfer fails the requests it carried") {
  const auto c = small_config();
  kv::block_pool pool(c.block_bytes(), 16);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  kv::sequence_kv src(c, pool), dst(c, pool);
  src.reserve(20);
  src.set_tokens(20);
  dst.reserve(20);
  dst.set_tokens(20);
  rx.expect(3, dst);
  {
    kv_sender tx({"127.0.0.1", rx.port()}, "doomed-prefill", 2s);
    tx.send_layer(3, src, 0);
  }  // the sender goes away with the request half sent
  const auto e = log.wait_terminal(3);
  CHECK(e.kind == kv_receiver::event::failed);
  CHECK_THAT(e.error, Catch::Contains("doomed-prefill"));
}

TEST_CASE("a receiver that is not there is a clear unreachable error") {
  uint16_t port;
  {
    kv_receiver rx({"127.0.0.1", 0}, [](const kv_receiver::event&) {});
    port = rx.port();
  }
  try {
    kv_sender tx({"127.0.0.1", port}, "x", 1s);
    FAIL("connected to nothing");
  } catch (const failure& f) {
    CHECK(f.code() == errc::unreachable);
    CHECK_THAT(f.what(), Catch::Contains(std::to_string(port)));
  }
}
