// Acknowledged, resumable KV transfers: a link that breaks mid-transfer comes back over new
// connections and sends only what the receiver lacks; what cannot come back fails with its
// cause, within a bound; cancelling never waits a transfer out.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

#include "runtime/common/errc.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"
#include "runtime/transport/pacer.h"
#include "tests/support/transport_fixtures.h"

using namespace prfaas;
using namespace prfaas::transport;
using namespace prfaas::testing;
using namespace std::chrono_literals;

namespace {

auto soon(std::chrono::milliseconds d = 20s) { return std::chrono::steady_clock::now() + d; }

template <typename Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace

TEST_CASE("the receiver acknowledges each ready prefix of layers, then the end, finish returns after it") {
  layered_buffers src(4, 8, 4096, true), dst(4, 8, 4096, false);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(9, dst);
  kv_sender tx({"127.0.0.1", rx.port()}, opts("acked", 2));
  tx.send_layer(9, src, 0);
  tx.send_layer(9, src, 1);
  REQUIRE(eventually([&] { return tx.progress_of(9).acked_layers == 2; }));
  CHECK_FALSE(tx.progress_of(9).complete);
  tx.send_layer(9, src, 2);
  tx.send_layer(9, src, 3);
  tx.send_done(9, 8, 5);
  tx.finish(9, soon());
  CHECK(log.wait_terminal(9).kind == kv_receiver::event::complete);
  CHECK(src.words == dst.words);
  CHECK_FALSE(tx.progress_of(9).known);  // finished: forgotten
}

TEST_CASE("a transfer broken mid-way resumes from what the receiver acknowledged: at most one layer is sent twice") {
  // 4 layers of 1 MiB, paced so that a layer takes about 40 ms: the break lands inside layer 1 or 2.
  layered_buffers src(4, 16, 65536, true), dst(4, 16, 65536, false);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(7, dst);
  auto o = opts("interrupted", 4);
  o.pacing_gbps = 0.2;
  kv_sender tx({"127.0.0.1", rx.port()}, o);
  for (int l = 0; l < 4; ++l) tx.send_layer(7, src, l);
  tx.send_done(7, 16, 3);
  REQUIRE(eventually([&] { return tx.progress_of(7).acked_layers >= 1; }));
  const auto acked_at_break = tx.progress_of(7).acked_layers;
  REQUIRE(acked_at_break < 4);
  tx.break_connections("test: connection reset");
  const auto p = tx.progress_of(7);
  tx.finish(7, soon());

  const auto e = log.wait_terminal(7);
  REQUIRE(e.kind == kv_receiver::event::complete);
  CHECK(e.first_token == 3);
  CHECK(src.words == dst.words);
  CHECK(tx.resumes() == 1);
  CHECK(rx.stats().resumed == 1);
  // Everything was sent once, and at most one layer's worth twice (what was on the wire when
  // the connections broke).
  const uint64_t total = 4 * src.layer_bytes();
  const uint64_t sent = tx.payload_bytes_sent();
  INFO("acknowledged " << acked_at_break << " layers at the break; " << p.payload_bytes_sent << " bytes written then; "
                       << sent << " bytes in all for " << total);
  std::printf("resume | acked %u of 4 layers at the break | %llu payload bytes sent for %llu | %llu sent twice "
              "(one layer: %zu)\n",
              acked_at_break, static_cast<unsigned long long>(sent), static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(sent - total), src.layer_bytes());
  CHECK(sent >= total);
  CHECK(sent - total <= src.layer_bytes());
  CHECK(rx.stats().payload_bytes == total);
}

TEST_CASE("a receiver that restarted cannot resume: finish names the cause") {
  layered_buffers src(2, 4, 4096, true), dst(2, 4, 4096, false);
  event_log log;
  auto rx = std::make_unique<kv_receiver>(endpoint{"127.0.0.1", 0}, std::ref(log));
  const uint16_t port = rx->port();
  rx->expect(4, dst);
  kv_sender tx({"127.0.0.1", port}, opts("survivor", 2));
  tx.send_layer(4, src, 0);
  REQUIRE(eventually([&] { return tx.progress_of(4).acked_layers == 1; }));
  rx.reset();  // the decode node dies ...
  event_log log2;
  kv_receiver again({"127.0.0.1", port}, std::ref(log2));  // ... and comes back on its port, empty
  tx.send_layer(4, src, 1);
  tx.send_done(4, 4, 0);
  try {
    tx.finish(4, soon());
    FAIL("a transfer the receiver lost was reported complete");
  } catch (const failure& f) {
    CHECK(f.code() == errc::transport_failed);
    CHECK_THAT(f.what(), Catch::Contains("cannot resume request 4"));
  }
  CHECK_FALSE(tx.broken());  // the link itself is fine: the next transfer goes through
  layered_buffers dst2(2, 4, 4096, false);
  again.expect(5, dst2);
  tx.send_layer(5, src, 0);
  tx.send_layer(5, src, 1);
  tx.send_done(5, 4, 0);
  tx.finish(5, soon());
  CHECK(src.words == dst2.words);
}

TEST_CASE("a receiver that is gone for good is given up within the resume timeout") {
  layered_buffers src(2, 4, 4096, true), dst(2, 4, 4096, false);
  event_log log;
  auto rx = std::make_unique<kv_receiver>(endpoint{"127.0.0.1", 0}, std::ref(log));
  rx->expect(4, dst);
  auto o = opts("abandoned", 2);
  o.resume_timeout = 500ms;
  kv_sender tx({"127.0.0.1", rx->port()}, o);
  tx.send_layer(4, src, 0);
  REQUIRE(eventually([&] { return tx.progress_of(4).acked_layers == 1; }));
  rx.reset();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    tx.send_layer(4, src, 1);
    tx.send_done(4, 4, 0);
    tx.finish(4, soon());
    FAIL("finished without a receiver");
  } catch (const failure& f) {
    CHECK(f.code() == errc::transport_failed);
    CHECK_THAT(f.what(), Catch::Contains("not re-established within 500 ms"));
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(tx.broken());
}

TEST_CASE("a sender silent mid-transfer is dropped after the receive timeout, and resumes when the link returns") {
  layered_buffers src(3, 8, 16384, true), dst(3, 8, 16384, false);
  event_log log;
  receiver_options ro;
  ro.receive_timeout = 300ms;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  rx.expect(2, dst);
  auto link = std::make_shared<pacer>(0.0);  // unpaced, but can be cut
  kv_sender tx({"127.0.0.1", rx.port()}, opts("cut-off", 2), link);
  tx.send_layer(2, src, 0);
  REQUIRE(eventually([&] { return tx.progress_of(2).acked_layers == 1; }));
  link->set_cut(true);  // a partition: nothing leaves, no new connection gets through
  tx.send_layer(2, src, 1);
  tx.send_layer(2, src, 2);
  tx.send_done(2, 8, 0);
  REQUIRE(eventually([&] { return rx.stats().interrupted == 1; }, 5s));  // dropped by the receiver
  std::this_thread::sleep_for(500ms);
  link->set_cut(false);
  tx.finish(2, soon());
  CHECK(log.wait_terminal(2).kind == kv_receiver::event::complete);
  CHECK(src.words == dst.words);
  CHECK(tx.resumes() >= 1);
}

TEST_CASE("cancelling a transfer returns at once, even while a payload is being read into it") {
  buffers src(2, 1 << 20), dst(2, 1 << 20);
  event_log log;
  receiver_options ro;
  ro.receive_timeout = 30s;  // the half-sent payload would hold a reader that long
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  rx.expect(6, dst.view);
  raw_peer peer(rx.port(), "stalling-prefill");
  // A frame announcing a 1 MiB payload, of which only the table, the header and 64 KiB go out.
  frame_encoder enc;
  frame_header h;
  h.kind = frame_kind::kv_block;
  h.request = 6;
  h.token_count = 2;
  enc.encode(h, src.view.payload(0, 0));
  auto iov = enc.iovecs();
  std::vector<iovec> part(iov.begin(), iov.end());
  part.back().iov_len = 65536;
  write_all(peer.s, std::span<iovec>(part));
  std::this_thread::sleep_for(100ms);  // the receiver is inside the payload now
  const auto t0 = std::chrono::steady_clock::now();
  rx.cancel(6);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE("frames for a transfer the receiver gave up stop the sender: finish names the cause") {
  layered_buffers src(2, 4, 4096, true), dst(2, 4, 4096, false);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(8, dst);
  rx.cancel(8);  // e.g. the request's deadline passed on the decode node
  kv_sender tx({"127.0.0.1", rx.port()}, opts("too-late", 1));
  tx.send_layer(8, src, 0);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    tx.finish(8, soon());
    FAIL("a refused transfer finished");
  } catch (const failure& f) {
    CHECK(f.code() == errc::transport_failed);
    CHECK_THAT(f.what(), Catch::Contains("does not expect this request"));
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // told, not timed out
}

TEST_CASE("frames lost on the way (fault point drop_frame) are found unconfirmed and sent again") {
  layered_buffers src(3, 8, 4096, true), dst(3, 8, 4096, false);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(3, dst);
  auto o = opts("lossy", 2);
  o.receive_timeout = 200ms;
  fault_options f;
  f.seed = 3;
  f.drop_frame = 0.2;
  o.faults = std::make_shared<fault_injector>(f);
  kv_sender tx({"127.0.0.1", rx.port()}, o);
  for (int l = 0; l < 3; ++l) tx.send_layer(3, src, l);
  tx.send_done(3, 8, 1);
  tx.finish(3, soon());
  CHECK(log.wait_terminal(3).kind == kv_receiver::event::complete);
  CHECK(src.words == dst.words);
  CHECK(o.faults->fired(fault_point::drop_frame) > 0);
  CHECK(tx.resumes() >= 1);
}

TEST_CASE("connections reset at random (fault point reset_link) never lose or corrupt a transfer") {
  layered_buffers src(4, 16, 16384, true);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  auto o = opts("flaky", 4);
  fault_options f;
  f.seed = 11;
  f.reset_link = 0.02;
  o.faults = std::make_shared<fault_injector>(f);
  kv_sender tx({"127.0.0.1", rx.port()}, o);
  for (uint64_t id = 1; id <= 5; ++id) {
    layered_buffers dst(4, 16, 16384, false);
    rx.expect(id, dst);
    for (int l = 0; l < 4; ++l) tx.send_layer(id, src, l);
    tx.send_done(id, 16, 0);
    tx.finish(id, soon());
    CHECK(log.wait_terminal(id).kind == kv_receiver::event::complete);
    CHECK(src.words == dst.words);
  }
  CHECK(o.faults->fired(fault_point::reset_link) > 0);
  // Each reset interrupts the link once (two connections may fire within one interruption).
  CHECK(tx.resumes() >= 1);
  CHECK(tx.resumes() <= o.faults->fired(fault_point::reset_link));
}
