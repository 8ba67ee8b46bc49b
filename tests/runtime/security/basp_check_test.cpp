// The BASP check in front of CAF's parser: the frames a well-behaved node sends pass, whatever
// way the stream is cut; the headers that crash or bloat CAF 0.17 fail, saying why.

#include <catch2/catch.hpp>

#include <vector>

#include "runtime/security/basp_check.h"

using namespace prfaas::security;

namespace {

std::vector<uint8_t> frame(uint8_t op, uint32_t payload, uint64_t data = 0, uint64_t source = 0, uint64_t dest = 0) {
  std::vector<uint8_t> f(32 + payload, 0xab);
  f[0] = op;
  f[1] = f[2] = f[3] = 0;
  auto put = [&](size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) f[at + i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
  };
  put(4, payload, 4);
  put(8, data, 8);
  put(16, source, 8);
  put(24, dest, 8);
  return f;
}

}  // namespace

TEST_CASE("a well-behaved node's frames pass, cut at any byte") {
  std::vector<uint8_t> stream;
  for (const auto& f : {frame(0, 40, 7), frame(1, 60), frame(6, 0), frame(2, 100, 0, 3, 9), frame(3, 20, 0, 1, 2),
                        frame(4, 12), frame(5, 30), frame(6, 0)})
    stream.insert(stream.end(), f.begin(), f.end());
  for (size_t cut : {size_t{1}, size_t{7}, size_t{32}, size_t{33}, stream.size()}) {
    basp_check c({16u << 20, /*allow_routed=*/true});
    for (size_t at = 0; at < stream.size(); at += cut) CHECK(c.feed(stream.data() + at, std::min(cut, stream.size() - at)));
    CHECK(c.frames() == 8);
    CHECK(c.messages() == 2);  // one direct, one routed: the rest is handshakes, monitors, heartbeats
    CHECK_FALSE(c.failed());
  }
}

TEST_CASE("the headers that crash or bloat CAF 0.17 fail the check, saying why") {
  auto why = [](const std::vector<uint8_t>& f, uint64_t bound = 16u << 20) {
    basp_check c({bound});
    CHECK_FALSE(c.feed(f.data(), f.size()));
    CHECK_FALSE(c.feed(f.data(), 1));  // and stays failed
    return c.why();
  };
  CHECK_THAT(why(frame(1, 0)), Catch::Contains("operation 1 without a payload"));  // the 32-byte crash
  auto huge = frame(1, 0);
  huge[4] = 0x80;  // 2 GiB declared
  CHECK_THAT(why(huge), Catch::Contains("declares a payload of 2147483648 bytes"));
  CHECK_THAT(why(frame(2, 100), 64), Catch::Contains("over the bound of 64"));
  CHECK_THAT(why(frame(9, 4)), Catch::Contains("unknown operation 9"));
  CHECK_THAT(why(frame(6, 4)), Catch::Contains("a heartbeat with a payload"));
  CHECK_THAT(why(frame(0, 8, 0)), Catch::Contains("server handshake without operation data"));
  CHECK_THAT(why(frame(1, 8, 0, 5, 0)), Catch::Contains("client handshake naming actors"));
  CHECK_THAT(why(frame(2, 8, 0, 5, 0)), Catch::Contains("direct message to no actor"));
  // A bad header after good frames is found at its place.
  auto s = frame(6, 0);
  const auto bad = frame(1, 0);
  s.insert(s.end(), bad.begin(), bad.end());
  basp_check c;
  CHECK_FALSE(c.feed(s.data(), s.size()));
  CHECK_THAT(c.why(), Catch::StartsWith("BASP header 2"));
}

TEST_CASE("a routed message, which claims a source other than its connection's node, fails unless allowed") {
  const auto routed = frame(3, 20, 0, 1, 2);
  basp_check strict;
  CHECK_FALSE(strict.feed(routed.data(), routed.size()));
  CHECK_THAT(strict.why(), Catch::Contains("routed message"));
  basp_check relaxed({16u << 20, true});
  CHECK(relaxed.feed(routed.data(), routed.size()));
}

TEST_CASE("the peer's handshake payload is handed over once complete, cut at any byte, and only the first") {
  auto hs = frame(1, 100);
  for (size_t i = 32; i < hs.size(); ++i) hs[i] = static_cast<uint8_t>(i);
  const auto second = frame(0, 50, 7);
  std::vector<uint8_t> stream = hs;
  stream.insert(stream.end(), second.begin(), second.end());
  for (size_t cut : {size_t{1}, size_t{31}, size_t{64}, stream.size()}) {
    basp_check c;
    std::string payload;
    int handed = 0;
    for (size_t at = 0; at < stream.size(); at += cut) {
      REQUIRE(c.feed(stream.data() + at, std::min(cut, stream.size() - at)));
      std::string got;
      if (c.take_handshake(got)) {
        payload = got;
        ++handed;
      }
    }
    CHECK(handed == 1);
    CHECK(payload == std::string(hs.begin() + 32, hs.end()));
  }
}
