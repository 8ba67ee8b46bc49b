// transport.encrypt: KV payloads cross the wire sealed with AES-256-GCM under a key of their
// connection, bound to the frame they belong to; a payload altered on the way is refused and
// sent again, never used; a receiver that demands encryption refuses a plaintext sender.

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "runtime/common/errc.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"
#include "runtime/transport/payload_cipher.h"
#include "runtime/transport/socket.h"
#include "tests/support/transport_fixtures.h"

using namespace prfaas;
using namespace prfaas::transport;
using namespace prfaas::testing;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "the deployment secret";

link_options encrypted(const std::string& name, int connections) {
  auto o = opts(name, connections, kSecret);
  o.encrypt = true;
  return o;
}

// A TCP relay between a sender and a receiver that records what the sender wrote and can flip
// one byte of it on the way (at `flip_at` bytes into the first connection; 0: never).
struct relay {
  socket_fd listener = listen_tcp({"127.0.0.1", 0});
  uint16_t to;
  size_t flip_at;
  std::mutex m;
  std::vector<uint8_t> seen;
  std::atomic<bool> flipped{false}, stop{false};
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<socket_fd>> sockets;
  std::thread acceptor;

  relay(uint16_t to_port, size_t flip = 0) : to(to_port), flip_at(flip) {
    acceptor = std::thread([this] {
      for (int conn = 0; !stop; ++conn) {
        auto a = std::make_shared<socket_fd>();
        try {
          *a = accept_tcp(listener);
        } catch (...) {
          return;
        }
        auto b = std::make_shared<socket_fd>(connect_tcp({"127.0.0.1", to}, 2s));
        std::lock_guard l(m);
        sockets.push_back(a);
        sockets.push_back(b);
        threads.emplace_back([this, a, b, conn] { pump(*a, *b, true, conn); });
        threads.emplace_back([this, a, b, conn] { pump(*b, *a, false, conn); });
      }
    });
  }
  void pump(socket_fd& from, socket_fd& into, bool upstream, int conn) {
    std::vector<uint8_t> buf(65536);
    size_t offset = 0;
    for (;;) {
      const ssize_t n = ::recv(from.get(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (upstream) {
        std::lock_guard l(m);
        seen.insert(seen.end(), buf.begin(), buf.begin() + n);
        if (conn == 0 && flip_at > 0 && !flipped && offset + n > flip_at) {
          buf[flip_at - offset] ^= 0x5a;
          flipped = true;
        }
      }
      offset += static_cast<size_t>(n);
      if (::send(into.get(), buf.data(), static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::shutdown(into.get(), SHUT_WR);
  }
  uint16_t port() const { return local_port(listener); }
  bool saw(std::span<const std::byte> bytes) {
    std::lock_guard l(m);
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
    return std::search(seen.begin(), seen.end(), b, b + bytes.size()) != seen.end();
  }
  ~relay() {
    stop = true;
    listener.shutdown_both();
    acceptor.join();
    {
      std::lock_guard l(m);
      for (auto& s : sockets) s->shutdown_both();
    }
    for (auto& t : threads) t.join();
  }
};

void fill(buffers& b) {
  for (size_t i = 0; i < b.words.size(); ++i) b.words[i] = i * 0x9e3779b97f4a7c15ull + 7;
}

}  // namespace

TEST_CASE("a sealed payload opens only as the frame it was sealed for, in order, unaltered") {
  const payload_key key = derive_payload_key(kSecret, std::vector<uint8_t>(32, 1), std::vector<uint8_t>(32, 2));
  payload_cipher tx(key), rx(key), rx2(key), rx3(key);
  std::vector<uint64_t> plain(512), wire(512);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = i * 31 + 1;
  frame_header h;
  h.kind = frame_kind::kv_block;
  h.request = 9;
  h.layer = 2;
  h.index = 5;
  const auto tag = tx.seal(h, std::as_bytes(std::span(plain)), std::as_writable_bytes(std::span(wire)));
  CHECK(wire != plain);
  auto copy = wire;
  CHECK(rx.open(h, std::as_writable_bytes(std::span(copy)), tag));
  CHECK(copy == plain);
  // Another place for the same bytes: refused.
  auto moved = wire;
  frame_header other = h;
  other.layer = 3;
  CHECK_FALSE(rx2.open(other, std::as_writable_bytes(std::span(moved)), tag));
  // One flipped bit: refused.
  auto flipped = wire;
  flipped[100] ^= 1;
  CHECK_FALSE(rx3.open(h, std::as_writable_bytes(std::span(flipped)), tag));
  // Replayed as the next frame: refused (its number was spent).
  auto replay = wire;
  CHECK_FALSE(rx.open(h, std::as_writable_bytes(std::span(replay)), tag));
  // Another connection's key: refused.
  payload_cipher stranger(derive_payload_key(kSecret, std::vector<uint8_t>(32, 3), std::vector<uint8_t>(32, 2)));
  auto again = wire;
  CHECK_FALSE(stranger.open(h, std::as_writable_bytes(std::span(again)), tag));
}

TEST_CASE("with transport.encrypt the KV arrives intact and never crosses the wire in the clear") {
  buffers src(8, 65536), dst(8, 65536);
  fill(src);
  event_log log;
  receiver_options ro{kSecret};
  const bool encrypt = GENERATE(false, true);
  ro.require_encryption = encrypt;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  relay wire(rx.port());
  rx.expect(1, dst.view);
  {
    auto o = encrypt ? encrypted("prefill", 2) : opts("prefill", 2, kSecret);
    kv_sender tx({"127.0.0.1", wire.port()}, o);
    tx.send_layer(1, src.view, 0);
    tx.send_done(1, 8, 0);
    tx.finish(1, std::chrono::steady_clock::now() + 10s);
  }
  CHECK(src.words == dst.words);
  // A 64-byte run of the KV: seen on the wire exactly when the link is not encrypted.
  const auto sample = std::as_bytes(std::span(src.words)).subspan(3 * 65536 + 128, 64);
  CHECK(wire.saw(sample) == !encrypt);
}

TEST_CASE("a payload altered on the way is refused and sent again, the KV that lands is the sender's") {
  buffers src(8, 65536), dst(8, 65536);
  fill(src);
  event_log log;
  receiver_options ro{kSecret};
  ro.require_encryption = true;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  relay wire(rx.port(), /*flip_at=*/200000);  // inside the third payload of the first connection
  rx.expect(1, dst.view);
  kv_sender tx({"127.0.0.1", wire.port()}, encrypted("prefill", 1));
  tx.send_layer(1, src.view, 0);
  tx.send_done(1, 8, 0);
  tx.finish(1, std::chrono::steady_clock::now() + 20s);
  CHECK(wire.flipped);
  CHECK(tx.resumes() >= 1);  // the receiver dropped the tampered connection; the sender resumed
  CHECK(src.words == dst.words);
}

TEST_CASE("a receiver that demands encryption refuses a plaintext sender, saying why") {
  event_log log;
  receiver_options ro{kSecret};
  ro.require_encryption = true;
  kv_receiver rx({"127.0.0.1", 0}, std::ref(log), ro);
  CHECK_THROWS_WITH(kv_sender({"127.0.0.1", rx.port()}, opts("plain", 1, kSecret)),
                    Catch::Contains("takes encrypted links only"));
  auto no_secret = encrypted("no-secret", 1);
  no_secret.secret.clear();
  CHECK_THROWS_WITH(kv_sender({"127.0.0.1", rx.port()}, no_secret), Catch::Contains("needs the deployment's shared secret"));
}
