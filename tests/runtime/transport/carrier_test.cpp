// Every carrier keeps carrier.h's promises: the conformance suite (tests/support) run against
// TCP and the in-process loopback.  (The NCCL carrier's run needs a GPU: tests/gpu.)

#include <catch2/catch.hpp>

#include "runtime/transport/kv_sender.h"
#include "runtime/transport/loopback_carrier.h"
#include "tests/support/carrier_conformance.h"

using namespace prfaas;
using namespace prfaas::testing;

namespace {

carrier_under_test factory(const std::string& name) {
  if (name == "tcp") return same_carrier([] { return transport::make_tcp_carrier(); });
  return same_carrier([] { return transport::make_loopback_carrier(); });
}

}  // namespace

TEST_CASE("carrier: every payload lands byte for byte, acknowledged layer by layer, then complete") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_lands_and_acknowledges(factory(name));
}

TEST_CASE("carrier: acknowledgements reach every layer and the end without waiting for finish()") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_acknowledges_before_finish(factory(name));
}

TEST_CASE("carrier: payloads may go in parts and in any order") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_parts_in_any_order(factory(name));
}

TEST_CASE("carrier: bytes posted and not yet written stay within the window") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_backpressure(factory(name));
}

TEST_CASE("carrier: a sender without the shared secret is refused before any KV moves") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_refuses_wrong_secret(factory(name));
}

TEST_CASE("carrier: an unexpected or cancelled request fails at finish, and its target stays untouched") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_unexpected_and_cancelled(factory(name));
}

TEST_CASE("carrier: after forget() no thread reads the source, the link carries on") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_forget_releases_source(factory(name), 0.2);
}

TEST_CASE("carrier: a listener that goes away fails its links' transfers, without a hang") {
  const std::string name = GENERATE(as<std::string>{}, "tcp", "loopback");
  INFO("carrier " << name);
  check_listener_gone(factory(name));
}

// The issue this guards: with one of four connections broken, the others may still be inside
// sendmsg on the request's blocks; a prefill that gives the request up must not hand those
// blocks back to the pool before they are out.  The blocks' pages are taken away the moment
// forget() returns: a writer still reading them would fail its send with EFAULT (counted).
TEST_CASE("tcp: one of four connections breaks mid-transfer, no block goes back while a writer holds it") {
  constexpr int kCount = 64;
  constexpr size_t kBytes = 1 << 20;
  guarded_memory blocks(kCount * kBytes);
  fill_pattern(blocks.data(), kCount * kBytes, 2);
  buffer_transfer src(blocks.data(), kCount, kBytes);
  std::vector<uint64_t> d(kCount * kBytes / 8, 0);
  buffer_transfer dst(reinterpret_cast<std::byte*>(d.data()), kCount, kBytes);
  event_log log;
  transport::kv_receiver rx({"127.0.0.1", 0}, std::ref(log), conformance_receiver());
  rx.expect(1, dst);
  auto o = conformance_link("", 4);
  o.kernel_pacing_gbps = 0.2;  // writers block inside sendmsg on their 1 MiB frames
  o.max_inflight_bytes = size_t{kCount} * kBytes;
  transport::kv_sender tx({"127.0.0.1", rx.port()}, o);
  tx.send_layer(1, src, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  REQUIRE(tx.stats().bytes_in_flight > 0);  // mid-transfer
  tx.break_connection(1);
  // The prefill's failure path: forget the request, then its blocks go back to the pool.
  tx.forget(1);
  blocks.take_away();
  rx.cancel(1);
  // The link resumes over fresh connections and carries the next request.
  std::vector<uint64_t> s2(32 * 4096 / 8, 4), d2(s2.size(), 0);
  buffer_transfer src2(reinterpret_cast<std::byte*>(s2.data()), 32, 4096);
  buffer_transfer dst2(reinterpret_cast<std::byte*>(d2.data()), 32, 4096);
  rx.expect(2, dst2);
  tx.send_layer(2, src2, 0);
  tx.send_done(2, 32, 0);
  tx.finish(2, soon());
  CHECK(s2 == d2);
  CHECK(tx.stats().source_faults == 0);
}
