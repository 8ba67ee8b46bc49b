// A KV stream says what its bytes are (kv_layout.h, in every connection's hello); a receiver
// holding another layout refuses the stream, naming both, instead of misreading it.

#include <catch2/catch.hpp>

#include "runtime/kv/kv_layout.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"
#include "tests/support/small_model.h"
#include "tests/support/transport_fixtures.h"

using namespace prfaas;
using namespace prfaas::transport;
using namespace prfaas::testing;
using namespace std::chrono_literals;

TEST_CASE("the layout descriptor names every field that places a KV byte") {
  const auto base = small_model();
  const auto d = kv::layout_descriptor(base.kv_layout());
  CHECK(d.size() <= kMaxLayoutChars);
  auto differs = [&](auto change) {
    auto c = base;
    change(c);
    return kv::layout_descriptor(c.kv_layout()) != d;
  };
  CHECK(differs([](auto& c) { c.block_tokens = 16; }));
  CHECK(differs([](auto& c) { c.kv_heads = 4; }));
  CHECK(differs([](auto& c) { c.head_dim = 32; }));
  CHECK(differs([](auto& c) { c.conv_kernel = 2; }));
  CHECK(differs([](auto& c) { c.linear_key_heads = 1; }));  // the head split: same state size, other channels
  CHECK(differs([](auto& c) { c.linear_per_full = 1; }));
  CHECK_FALSE(differs([](auto& c) { c.seed = 9; }));  // weights do not place bytes
}

TEST_CASE("a receiver refuses a KV stream whose layout differs from its own, naming both, an equal one flows") {
  auto mine = small_model(), theirs = small_model();
  theirs.conv_kernel = 2;
  event_log log;
  receiver_options ro;
  ro.layout = kv::layout_descriptor(mine.kv_layout());
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  auto o = opts("prefill-with-other-layout", 1);
  o.layout = kv::layout_descriptor(theirs.kv_layout());
  CHECK_THROWS_WITH(kv_sender({"127.0.0.1", rx.port()}, o),
                    Catch::Contains("KV layout differs") && Catch::Contains("conv[1]") && Catch::Contains("conv[3]"));

  buffers src(4, 4096), dst(4, 4096);
  for (size_t i = 0; i < src.words.size(); ++i) src.words[i] = i * 2654435761u;
  rx.expect(7, dst.view);
  auto same = opts("prefill", 1);
  same.layout = ro.layout;
  kv_sender tx({"127.0.0.1", rx.port()}, same);
  tx.send_layer(7, src.view, 0);
  tx.send_done(7, 4, 0);
  tx.finish(7, std::chrono::steady_clock::now() + 10s);
  CHECK(src.words == dst.words);
}
