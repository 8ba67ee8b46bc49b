// The receiver's frame reader: frames come out exactly as written whatever their header sizes
// and however the bytes are split, with the next header read ahead together with a payload; a
// payload's bytes read ahead with a short header are copied into place and counted.

#include <catch2/catch.hpp>
#include <sys/socket.h>

#include <random>
#include <thread>
#include <vector>

#include "runtime/transport/frame_io.h"

using namespace prfaas;
using namespace prfaas::transport;

namespace {

struct pair_of_sockets {
  socket_fd a, b;
  pair_of_sockets() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    const int big = 8 << 20;  // the whole stream fits: the writer is done before the reader starts
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    ::setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    a = socket_fd(fds[0]);
    b = socket_fd(fds[1]);
  }
};

struct written {
  frame_header h;
  std::vector<uint64_t> payload;
};

}  // namespace

TEST_CASE("frames read with their next header ahead come out exactly as written") {
  pair_of_sockets p;
  std::mt19937_64 rng(5);
  std::vector<written> frames;
  for (int i = 0; i < 300; ++i) {
    written w;
    // Header sizes vary: a reason makes a longer header, so the reader's guess of the next
    // header is too long after it (and too short before it).
    w.h.kind = (i % 7 == 3) ? frame_kind::abort : frame_kind::kv_block;
    if (w.h.kind == frame_kind::kv_block && i % 5 == 0) w.h.reason = std::string(8 + rng() % 100, 'k');
    w.h.request = rng();
    w.h.layer = static_cast<uint32_t>(i);
    w.h.index = static_cast<uint32_t>(i * 3);
    if (w.h.kind == frame_kind::abort) {
      w.h.reason = std::string(8 + rng() % 100, 'r');
    } else {
      w.payload.resize(1 + rng() % 256);
      for (auto& x : w.payload) x = rng();
    }
    frames.push_back(std::move(w));
  }
  std::thread writer([&] {
    frame_encoder enc;
    for (const auto& w : frames) write_frame(p.a, enc, w.h, std::as_bytes(std::span(w.payload)));
    p.a.shutdown_both();
  });
  writer.join();
  frame_reader reader(p.b);
  for (const auto& w : frames) {
    received_header got;
    REQUIRE(reader.read_header(got));
    CHECK(got.header.kind == w.h.kind);
    CHECK(got.header.request == w.h.request);
    CHECK(got.header.layer == w.h.layer);
    CHECK(got.header.index == w.h.index);
    CHECK(got.header.reason == w.h.reason);
    REQUIRE(got.payload_bytes() == w.payload.size() * 8);
    std::vector<uint64_t> into(w.payload.size());
    reader.read_payload(std::as_writable_bytes(std::span(into)));
    CHECK(into == w.payload);
  }
  received_header end;
  CHECK_FALSE(reader.read_header(end));  // a clean end after the last frame
  // After a long header the guess overshoots the next, shorter one: some payload bytes came
  // ahead with it and were copied into place (never more than a header's worth a frame).
  CHECK(reader.copied_bytes() > 0);
  CHECK(reader.copied_bytes() < 300u * (16 + kMaxHeaderWords * 8));
}

TEST_CASE("a peer that stops mid-frame is an error, not a hang or a short payload") {
  pair_of_sockets p;
  frame_encoder enc;
  std::vector<uint64_t> payload(512, 7);
  frame_header h;
  h.kind = frame_kind::kv_block;
  enc.encode(h, std::as_bytes(std::span(payload)));
  // Everything but the last 100 bytes, then the end of the stream.
  std::vector<std::byte> wire;
  for (const auto& v : enc.iovecs())
    wire.insert(wire.end(), static_cast<const std::byte*>(v.iov_base), static_cast<const std::byte*>(v.iov_base) + v.iov_len);
  wire.resize(wire.size() - 100);
  REQUIRE(::send(p.a.get(), wire.data(), wire.size(), 0) == static_cast<ssize_t>(wire.size()));
  p.a.shutdown_both();
  frame_reader reader(p.b);
  received_header got;
  REQUIRE(reader.read_header(got));
  std::vector<uint64_t> into(512);
  CHECK_THROWS_WITH(reader.read_payload(std::as_writable_bytes(std::span(into))), Catch::Contains("mid-frame"));
}
