// Sender and receiver over real loopback sockets: KV lands in place whatever connection carried
// which payload and in whatever order; strangers and malformed frames are refused; the window,
// the pacer and the counters hold.

#include <catch2/catch.hpp>

#include "tests/support/flood.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <atomic>
#include <functional>
#include <thread>

#include "runtime/common/errc.h"
#include "tests/support/small_model.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/transport/frame_io.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"
#include "runtime/transport/socket.h"
#include "tests/support/transport_fixtures.h"

using namespace prfaas;
using namespace prfaas::transport;
using namespace std::chrono_literals;
using namespace prfaas::testing;

namespace {

model::model_config small_config() { return testing::small_model(); }

}  // namespace

TEST_CASE("a prefill streamed layer by layer lands byte for byte, whatever the connection count") {
  const auto c = small_config();
  model::hybrid_model m(c);
  for (int connections : {1, 2, 4, 8}) {
    INFO(connections << " connections");
    kv::block_pool src_pool(c.block_bytes(), 64), dst_pool(c.block_bytes(), 64);
    event_log log;
    kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
    std::vector<int32_t> prompt(45);
    for (int i = 0; i < 45; ++i) prompt[i] = (i * 37 + connections) % 256;
    kv::sequence_kv dst(c.kv_layout(), dst_pool);
    dst.reserve(45 + 8);
    dst.set_tokens(45);
    sequence_transfer dst_view(dst);
    rx.expect(7, dst_view);

    kv_sender tx({"127.0.0.1", rx.port()}, opts("test-prefill", connections));
    kv::sequence_kv src(c.kv_layout(), src_pool);
    sequence_transfer src_view(src);
    const auto first = model::greedy(m.prefill(prompt, src, [&](int l) { tx.send_layer(7, src_view, l); }));
    tx.send_done(7, static_cast<uint32_t>(src.tokens()), first);
    tx.flush();

    const auto done = log.wait_terminal(7);
    REQUIRE(done.kind == kv_receiver::event::complete);
    CHECK(done.first_token == first);
    auto layers = log.layers(7);
    std::sort(layers.begin(), layers.end());
    CHECK(layers == std::vector<int>{0, 1, 2, 3});
    CHECK(same_payloads(src_view, dst_view));
    const auto stats = rx.stats();
    CHECK(stats.payload_bytes == static_cast<uint64_t>(src.total_payload_bytes()));
    CHECK(stats.connections == static_cast<uint64_t>(connections));
    CHECK(tx.payload_bytes_sent() == stats.payload_bytes);
    // Decoding from the received KV continues exactly as from the original.
    CHECK(model::greedy(m.decode_step(first, dst)) == model::greedy(m.decode_step(first, src)));
  }
}

TEST_CASE("payloads reassemble under random orders spread over random connections") {
  std::mt19937_64 rng(20261127);
  INFO("seed 20261127");
  for (int round = 0; round < 20; ++round) {
    const int blocks = 1 + static_cast<int>(rng() % 40);
    const int connections = 1 + static_cast<int>(rng() % 6);
    buffers src(blocks, 4096), dst(blocks, 4096);
    for (size_t i = 0; i < src.words.size(); ++i) src.words[i] = rng();
    event_log log;
    kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
    rx.expect(100 + round, dst.view);
    std::vector<std::unique_ptr<raw_peer>> peers;
    for (int i = 0; i < connections; ++i) peers.push_back(std::make_unique<raw_peer>(rx.port(), "shuffler"));
    std::vector<int> order(blocks);
    for (int i = 0; i < blocks; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    // request_done may come first: the receiver completes when the last payload lands.
    const bool done_first = rng() % 2;
    frame_header done;
    done.kind = frame_kind::request_done;
    done.request = 100 + round;
    done.token_count = static_cast<uint32_t>(blocks);
    done.first_token = 42;
    if (done_first) peers[rng() % connections]->send(done);
    for (int b : order) {
      frame_header h;
      h.kind = frame_kind::kv_block;
      h.request = 100 + round;
      h.index = static_cast<uint32_t>(b);
      h.token_count = static_cast<uint32_t>(blocks);
      peers[rng() % connections]->send(h, src.view.payload(0, b));
    }
    if (!done_first) peers[rng() % connections]->send(done);
    const auto e = log.wait_terminal(100 + round);
    INFO("round " << round << ": " << blocks << " blocks over " << connections << " connections");
    REQUIRE(e.kind == kv_receiver::event::complete);
    CHECK(e.first_token == 42);
    CHECK(src.words == dst.words);
  }
}

TEST_CASE("KV payloads go from block to socket to block without a user-space copy, unless sealed") {
  // The receiver has no copy path at all (frames land in place, decryption is in place); the
  // sender copies a payload only to seal it (transport.encrypt), and counts what it copies.
  for (const bool encrypt : {false, true}) {
    INFO((encrypt ? "encrypted" : "plaintext"));
    buffers src(64, 65536), dst(64, 65536);
    for (size_t i = 0; i < src.words.size(); ++i) src.words[i] = i * 0x9e3779b97f4a7c15ull;
    event_log log;
    receiver_options ro{"s"};
    ro.require_encryption = encrypt;
    kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
    rx.expect(1, dst.view);
    auto o = opts("zero-copy", 4, "s");
    o.encrypt = encrypt;
    kv_sender tx({"127.0.0.1", rx.port()}, o);
    tx.send_layer(1, src.view, 0);
    tx.send_done(1, 64, 0);
    tx.flush();
    REQUIRE(log.wait_terminal(1).kind == kv_receiver::event::complete);
    CHECK(rx.stats().payload_bytes == 64u * 65536u);
    CHECK(tx.stats().copied_bytes == (encrypt ? 64u * 65536u : 0u));
    CHECK(src.words == dst.words);
  }
}

TEST_CASE("a peer without the shared secret is refused at the handshake") {
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), receiver_options{"the deployment secret"});
  auto refused = [&](const std::string& secret) {
    try {
      kv_sender tx({"127.0.0.1", rx.port()}, opts("intruder", 1, secret));
      return false;
    } catch (const failure& f) {
      CHECK(f.code() == errc::transport_failed);
      CHECK_THAT(f.what(), Catch::Contains("refused"));
      return true;
    }
  };
  CHECK(refused("a wrong secret"));
  CHECK(refused(""));
  CHECK(rx.stats().refused == 2);
  kv_sender ok({"127.0.0.1", rx.port()}, opts("member", 2, "the deployment secret"));
  CHECK(rx.stats().connections == 2);
  CHECK(rx.stats().refused == 2);
}

TEST_CASE("a sender sends no KV to a receiver that does not prove the shared secret") {
  event_log log;
  SECTION("a receiver that asks for no proof at all") {
    kv_receiver open_door({"127.0.0.1", 0}, std::ref(log));
    CHECK_THROWS_WITH(kv_sender({"127.0.0.1", open_door.port()}, opts("prefill", 1, "the deployment secret")),
                      Catch::Contains("did not prove the shared secret"));
  }
  SECTION("an impostor that challenges, then answers the sender's challenge without the secret") {
    auto listener = listen_tcp({"127.0.0.1", 0});
    const uint16_t port = local_port(listener);
    std::thread impostor([&] {
      auto s = accept_tcp(listener);
      frame_encoder enc;
      received_header h;
      REQUIRE(read_header(s, h));  // hello
      const auto nonce = random_challenge();
      frame_header c;
      c.kind = frame_kind::challenge;
      write_frame(s, enc, c, std::as_bytes(std::span(nonce)));
      REQUIRE(read_header(s, h));
      const auto proof = read_small_payload(s, h, 64);
      const std::vector<uint8_t> theirs(proof.begin() + 32, proof.end());
      const auto guess = receiver_proof("a guessed secret", theirs, "prefill");
      std::vector<uint64_t> aligned(4);
      std::memcpy(aligned.data(), guess.data(), 32);
      frame_header p;
      p.kind = frame_kind::proof;
      write_frame(s, enc, p, std::as_bytes(std::span(aligned)));
      frame_header ok;
      ok.kind = frame_kind::accepted;
      write_frame(s, enc, ok);
      char b;
      (void)!::recv(s.get(), &b, 1, 0);  // until the sender hangs up
    });
    CHECK_THROWS_WITH(kv_sender({"127.0.0.1", port}, opts("prefill", 1, "the deployment secret")),
                      Catch::Contains("failed to prove the shared secret"));
    impostor.join();
  }
  SECTION("the real receiver proves it, and the transfer runs") {
    kv_receiver rx({"127.0.0.1", 0}, std::ref(log), receiver_options{"the deployment secret"});
    kv_sender tx({"127.0.0.1", rx.port()}, opts("prefill", 2, "the deployment secret"));
    CHECK(rx.stats().connections == 2);
  }
}

TEST_CASE("the first token's log-probabilities reach the receiver with the request's completion") {
  buffers src(3, 4096), dst(3, 4096);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  kv_sender tx({"127.0.0.1", rx.port()}, opts("prefill", 2));
  rx.expect(6, dst.view);
  tx.send_layer(6, src.view, 0);
  token_logprobs lp{-1.5f, {17, 4}, {-0.5f, -1.5f}};
  tx.send_done(6, 3, 4, lp);
  const auto done = log.wait_terminal(6);
  REQUIRE(done.kind == kv_receiver::event::complete);
  CHECK(done.first_token == 4);
  REQUIRE(done.first_logprobs);
  CHECK(done.first_logprobs->logprob == -1.5f);
  CHECK(done.first_logprobs->top_ids == lp.top_ids);
  CHECK(done.first_logprobs->top_logprobs == lp.top_logprobs);
}

TEST_CASE("frames for a request nobody expects are dropped, never written") {
  buffers src(3, 4096), dst(3, 4096);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  kv_sender tx({"127.0.0.1", rx.port()}, opts("stranger"));
  tx.send_layer(99, src.view, 0);
  tx.send_done(99, 3, 1);
  tx.flush();
  // A request registered afterwards on the same link still works: the stream stayed in sync.
  rx.expect(5, dst.view);
  tx.send_layer(5, src.view, 0);
  tx.send_done(5, 3, 3);
  CHECK(log.wait_terminal(5).kind == kv_receiver::event::complete);
  const auto stats = rx.stats();
  CHECK(stats.frames_rejected == 4);  // 3 payloads and a request_done
  CHECK(stats.dropped_bytes == 3u * 4096u);
}

TEST_CASE("KV that outruns its reservation waits for it and lands (the reservation and the prefill went at once)") {
  // Over several connections request_done may come first on one of them: it waits too.
  for (int connections : {1, 4}) {
    INFO(connections << " connections");
    buffers src(8, 4096), dst(8, 4096);
    for (size_t i = 0; i < src.words.size(); ++i) src.words[i] = i * 0x9e3779b97f4a7c15ull + 1;
    event_log log;
    kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
    kv_sender tx({"127.0.0.1", rx.port()}, opts("prefill", connections));
    tx.send_layer(7, src.view, 0);
    tx.send_done(7, 8, 2);
    tx.flush();
    std::this_thread::sleep_for(200ms);  // the frames are there before the reservation
    rx.expect(7, dst.view);
    const auto end = log.wait_terminal(7);
    CHECK(end.kind == kv_receiver::event::complete);
    CHECK(end.first_token == 2);
    CHECK(dst.words == src.words);
    CHECK(rx.stats().frames_rejected == 0);
  }
}

TEST_CASE("a request cancelled here is not waited for: its late frames are dropped") {
  buffers src(3, 4096), dst(3, 4096), other(3, 4096);
  event_log log;
  receiver_options o;
  o.expect_grace = 60s;  // a wait would outlast the test's own timeout
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), o);
  kv_sender tx({"127.0.0.1", rx.port()}, opts("prefill"));
  rx.expect(8, dst.view);
  rx.cancel(8);
  tx.send_layer(8, src.view, 0);
  tx.send_done(8, 3, 1);
  rx.expect(9, other.view);  // the same connection carries on at once
  tx.send_layer(9, src.view, 0);
  tx.send_done(9, 3, 1);
  CHECK(log.wait_terminal(9).kind == kv_receiver::event::complete);
  CHECK(rx.stats().frames_rejected == 4);
}

TEST_CASE("KV waiting for a reservation that is refused is dropped once the request is cancelled, not after the grace") {
  buffers src(3, 4096), dst(3, 4096);
  event_log log;
  receiver_options o;
  o.expect_grace = 60s;  // a wait would outlast the test's own timeout
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), o);
  kv_sender tx({"127.0.0.1", rx.port()}, opts("prefill"));
  tx.send_layer(11, src.view, 0);  // waits at the receiver for request 11's reservation
  tx.send_done(11, 3, 1);
  tx.flush();
  std::this_thread::sleep_for(200ms);
  rx.cancel(11);  // the reservation was refused
  rx.expect(12, dst.view);
  tx.send_layer(12, src.view, 0);
  tx.send_done(12, 3, 1);
  CHECK(log.wait_terminal(12).kind == kv_receiver::event::complete);
  CHECK(rx.stats().frames_rejected == 4);
}

TEST_CASE("each attempt of a request has its own data-plane id: the first the request's, none another request's") {
  const uint64_t high = 0x9c3a51e7ull << 32;  // one router's random high half
  std::set<uint64_t> seen;
  for (uint64_t counter = 1; counter <= 100; ++counter)
    for (int32_t attempt = 0; attempt < 10; ++attempt) CHECK(seen.insert(transfer_key(high | counter, attempt)).second);
  CHECK(transfer_key(high | 7, 0) == (high | 7));
}

TEST_CASE("frames out of range or of the wrong shape fail the request as a bad frame and are not written") {
  struct bad_case {
    const char* what;
    std::function<void(frame_header&)> edit;
    size_t bytes;
    const char* error;
  };
  const std::vector<bad_case> cases = {
      {"layer out of range", [](frame_header& h) { h.layer = 7; }, 4096, "layer 7 out of range"},
      {"block index out of range", [](frame_header& h) { h.index = 3; }, 4096, "index 3 out of range"},
      {"wrong size", [](frame_header&) {}, 2048, "does not fit"},
      {"wrong token count", [](frame_header& h) { h.token_count = 9; }, 4096, "tokens"},
      {"wrong kind", [](frame_header& h) { h.kind = frame_kind::linear_state; }, 4096, "other kind"},
  };
  for (const auto& bc : cases) {
    INFO(bc.what);
    buffers dst(3, 4096);
    std::vector<uint64_t> payload(bc.bytes / 8, 0xffffffffffffffffull);
    event_log log;
    kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
    rx.expect(1, dst.view);
    raw_peer peer(rx.port(), "fuzzy");
    frame_header h;
    h.kind = frame_kind::kv_block;
    h.request = 1;
    h.token_count = 3;
    bc.edit(h);
    peer.send(h, std::as_bytes(std::span(payload)));
    const auto e = log.wait_terminal(1);
    CHECK(e.kind == kv_receiver::event::failed);
    CHECK(e.code == errc::bad_frame);  // the data plane's code, carried to the router as it is
    CHECK_THAT(e.error, Catch::Contains(bc.error));
    CHECK(std::all_of(dst.words.begin(), dst.words.end(), [](uint64_t w) { return w == 0; }));
  }
}

TEST_CASE("a connection broken mid-transfer and never resumed fails its requests after the resume window, as a transport failure") {
  buffers src(4, 4096), dst(4, 4096);
  event_log log;
  receiver_options ro;
  ro.resume_window = 300ms;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  rx.expect(3, dst.view);
  {
    raw_peer peer(rx.port(), "doomed-prefill");
    frame_header h;
    h.kind = frame_kind::kv_block;
    h.request = 3;
    h.token_count = 4;
    peer.send(h, src.view.payload(0, 0));
  }  // the sender goes away with the request half sent
  const auto t0 = std::chrono::steady_clock::now();
  const auto e = log.wait_terminal(3);
  CHECK(e.kind == kv_receiver::event::failed);
  CHECK(e.code == errc::transport_failed);
  CHECK_THAT(e.error, Catch::Contains("doomed-prefill"));
  CHECK_THAT(e.error, Catch::Contains("not resumed within 300 ms"));
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);  // it waited for a resume first
  CHECK(rx.stats().interrupted == 1);
}

TEST_CASE("pacing holds a link to its configured rate within 10 %", "[alone]") {
  buffers src(160, 65536), dst(160, 65536);  // 10 MiB
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(1, dst.view);
  auto o = opts("paced", 4);
  o.pacing_gbps = 0.4;  // 50 MB/s: 10 MiB take about 0.21 s
  kv_sender tx({"127.0.0.1", rx.port()}, o);
  const auto t0 = std::chrono::steady_clock::now();
  tx.send_layer(1, src.view, 0);
  tx.send_done(1, 160, 0);
  tx.flush();
  REQUIRE(log.wait_terminal(1).kind == kv_receiver::event::complete);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gbps = tx.stats().bytes_sent * 8 / 1e9 / s;
  INFO("paced at " << gbps << " Gbps for a 0.4 Gbps setting");
  CHECK(gbps == Approx(0.4).epsilon(0.10));
}

TEST_CASE("the emulated one-way delay holds every frame back by its setting", "[alone]") {
  buffers src(2, 4096), dst(2, 4096);
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(1, dst.view);
  auto o = opts("far-away", 2);
  o.delay = 80ms;
  kv_sender tx({"127.0.0.1", rx.port()}, o);
  const auto t0 = std::chrono::steady_clock::now();
  tx.send_layer(1, src.view, 0);
  tx.send_done(1, 2, 0);
  REQUIRE(log.wait_terminal(1).kind == kv_receiver::event::complete);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 80ms);
  CHECK(waited < 2s);
}

TEST_CASE("the sender's window bounds the bytes posted and not yet written") {
  buffers src(256, 65536), dst(256, 65536);  // 16 MiB through a 1 MiB window, paced slow
  event_log log;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log));
  rx.expect(1, dst.view);
  auto o = opts("windowed", 2);
  o.max_inflight_bytes = 1 << 20;
  o.pacing_gbps = 1.0;
  kv_sender tx({"127.0.0.1", rx.port()}, o);
  std::atomic<uint64_t> worst{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      worst = std::max<uint64_t>(worst, tx.stats().bytes_in_flight);
      std::this_thread::sleep_for(1ms);
    }
  });
  tx.send_layer(1, src.view, 0);
  tx.send_done(1, 256, 0);
  tx.flush();
  done = true;
  watcher.join();
  REQUIRE(log.wait_terminal(1).kind == kv_receiver::event::complete);
  CHECK(worst > 0);
  CHECK(worst <= (1u << 20) + 65536u + 256u);
  CHECK(src.words == dst.words);
}

TEST_CASE("a receiver that is not there is a clear unreachable error") {
  uint16_t port;
  {
    kv_receiver rx({"127.0.0.1", 0}, [](const kv_receiver::event&) {});
    port = rx.port();
  }
  try {
    kv_sender tx({"127.0.0.1", port}, opts("x"));
    FAIL("connected to nothing");
  } catch (const failure& f) {
    CHECK(f.code() == errc::unreachable);
    CHECK_THAT(f.what(), Catch::Contains(std::to_string(port)));
  }
}

TEST_CASE("idle connections that never say hello cannot lock real peers out, and a refusal says why") {
  buffers src(2, 4096), dst(2, 4096);
  event_log log;
  receiver_options ro;
  ro.max_connections = 40;
  ro.max_handshaking = 8;
  ro.handshake_timeout = 300ms;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  std::vector<socket_fd> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(connect_tcp({"127.0.0.1", rx.port()}, 2s));
  // Past the handshake bound they were refused at once; the rest are dropped after 300 ms.
  std::this_thread::sleep_for(600ms);
  rx.expect(1, dst.view);
  kv_sender tx({"127.0.0.1", rx.port()}, opts("real-prefill", 2));
  tx.send_layer(1, src.view, 0);
  tx.send_done(1, 2, 0);
  tx.finish(1, std::chrono::steady_clock::now() + 10s);
  CHECK(src.words == dst.words);
  CHECK(rx.stats().refused >= 200);  // most at once; the rest timed out in their handshake

  // At the connection bound a peer hears the bound, not a doubt about its secret.
  receiver_options one;
  one.max_connections = 1;
  kv_receiver small({"127.0.0.1", 0}, std::ref(log), one);
  kv_sender first({"127.0.0.1", small.port()}, opts("first", 1));
  try {
    kv_sender second({"127.0.0.1", small.port()}, opts("second", 1));
    FAIL("a second connection got past a bound of one");
  } catch (const failure& f) {
    CHECK_THAT(f.what(), Catch::Contains("maximum of 1 connections"));
  }
}

TEST_CASE("trickling handshakes from one address fill only that address's slots and are cut at their deadline") {
  buffers src(2, 4096), dst(2, 4096);
  event_log log;
  receiver_options ro;
  ro.secret = "s";
  ro.max_handshaking = 32;
  ro.max_handshaking_per_peer = 4;
  ro.handshake_timeout = 600ms;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  // 40 connections from another address, each trickling a byte of a hello every 50 ms: a
  // per-read timeout would never fire.
  std::vector<socket_fd> trickling;
  for (int i = 0; i < 40; ++i) trickling.push_back(testing::connect_from("127.0.0.2", rx.port()));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (auto& s : trickling)
        if (s) (void)!::send(s.get(), "\x01", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(50ms);
    }
  });
  std::this_thread::sleep_for(100ms);
  // A real sender from 127.0.0.1 gets its handshake slot and its transfer lands meanwhile.
  rx.expect(1, dst.view);
  kv_sender tx({"127.0.0.1", rx.port()}, opts("real-prefill", 2, "s"));
  tx.send_layer(1, src.view, 0);
  tx.send_done(1, 2, 0);
  tx.finish(1, std::chrono::steady_clock::now() + 10s);
  CHECK(src.words == dst.words);
  CHECK(testing::closed_count(trickling) >= 36);  // beyond the 4 slots of their address: refused at once
  std::this_thread::sleep_for(900ms);                // past the deadline, however they trickle
  CHECK(testing::closed_count(trickling) == 40);
  stop = true;
  trickle.join();
}

TEST_CASE("a link paced by the kernel keeps to its rate without a user-space pacer", "[alone]") {
  // 32 MiB, 1.3 s at the paced rate: the kernel lets the first window (up to ten 64 KiB
  // segments on loopback) go at once before pacing holds, which on 8 MiB was 8-13 % over.
  const size_t block = 256 << 10;
  const int blocks = 128;
  std::vector<std::byte> dst(blocks * block), src(blocks * block, std::byte{3});
  buffer_transfer source(src.data(), blocks, block), target(dst.data(), blocks, block);
  kv_receiver rx({"127.0.0.1", 0}, [](const kv_receiver::event&) {}, receiver_options{"s"});
  auto seconds_for = [&](double kernel_gbps, uint64_t id) {
    link_options o;
    o.name = "pacing-test";
    o.secret = "s";
    o.kernel_pacing_gbps = kernel_gbps;
    kv_sender tx({"127.0.0.1", rx.port()}, o);
    rx.expect(id, target);
    const auto t0 = std::chrono::steady_clock::now();
    tx.send_layer(id, source, 0);
    tx.send_done(id, blocks, 0);
    tx.finish(id, t0 + std::chrono::seconds(30));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double gbps = 0.2;
  const double paced = blocks * block * 8 / seconds_for(gbps, 1) / 1e9;
  const double unpaced = blocks * block * 8 / seconds_for(0, 2) / 1e9;
  INFO("paced at " << gbps << " Gbps: " << paced << " Gbps; unpaced: " << unpaced << " Gbps");
  CHECK(paced < 1.1 * gbps);
  CHECK(paced > 0.6 * gbps);
  CHECK(unpaced > 3 * gbps);
}
