#include "runtime/transport/kv_receiver.h"

#include <spdlog/spdlog.h>

#include "runtime/common/errc.h"
#include "runtime/transport/link_options.h"

namespace prfaas::transport {

struct kv_receiver::connection {
  uint64_t id = 0;
  socket_fd socket;
  std::string peer_name = "unknown peer";
  std::thread thread;
  std::vector<std::byte> scratch;  // drain buffer for frames nobody expects
};

std::optional<std::string> accept_handshake(const socket_fd& s, const std::string& secret) {
  received_header h;
  if (!read_header(s, h)) throw failure(errc::transport_failed, "peer closed the connection before hello");
  if (h.header.kind != frame_kind::hello) throw failure(errc::bad_frame, "first frame is not hello");
  if (h.header.version != kProtocolVersion)
    throw failure(errc::bad_frame, "protocol version " + std::to_string(h.header.version) + ", expected " +
                                       std::to_string(kProtocolVersion));
  const std::string peer = h.header.reason.empty() ? "unnamed peer" : h.header.reason;
  frame_encoder enc;
  if (!secret.empty()) {
    const auto nonce = random_challenge();
    frame_header c;
    c.kind = frame_kind::challenge;
    write_frame(s, enc, c, std::as_bytes(std::span(nonce)));
    received_header p;
    std::vector<uint8_t> proof;
    if (read_header(s, p) && p.header.kind == frame_kind::proof) proof = read_small_payload(s, p, 64);
    if (!proofs_equal(proof, handshake_proof(secret, nonce, peer))) {
      spdlog::warn("KV receiver: refused a connection from '{}': authentication failed", peer);
      return std::nullopt;
    }
  }
  return peer;
}

kv_receiver::kv_receiver(const endpoint& listen_at, event_sink sink, receiver_options options)
    : options_(std::move(options)), registry_(std::move(sink), options_.max_pending), listener_(listen_tcp(listen_at)) {
  port_ = local_port(listener_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

kv_receiver::~kv_receiver() {
  stopping_ = true;
  listener_.shutdown_both();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::shared_ptr<connection>> conns;
  {
    std::lock_guard lock(mutex_);
    conns = connections_;
    for (auto& c : conns) c->socket.shutdown_both();
  }
  for (auto& c : conns)
    if (c->thread.joinable()) c->thread.join();
}

void kv_receiver::accept_loop() {
  uint64_t next_id = 1;
  while (!stopping_) {
    socket_fd s = accept_tcp(listener_);
    if (!s) break;
    std::lock_guard lock(mutex_);
    // Reap finished connections so the bound counts live ones.
    std::erase_if(connections_, [](const std::shared_ptr<connection>& c) {
      if (c->socket) return false;
      if (c->thread.joinable()) c->thread.join();
      return true;
    });
    if (static_cast<int>(connections_.size()) >= options_.max_connections) continue;  // closes s
    auto conn = std::make_shared<connection>();
    conn->id = next_id++;
    conn->socket = std::move(s);
    connections_.push_back(conn);
    conn->thread = std::thread([this, conn] { serve(conn); });
  }
}

void kv_receiver::serve(std::shared_ptr<connection> conn) {
  std::string why;
  try {
    const auto peer = accept_handshake(conn->socket, options_.secret);
    registry_.count_connection(peer.has_value());  // before the peer hears it: its stats see this
    if (peer) {
      conn->peer_name = *peer;
      frame_encoder enc;
      frame_header ok;
      ok.kind = frame_kind::accepted;
      write_frame(conn->socket, enc, ok);
      while (!stopping_ && handle_frame(*conn)) {}
      why = "KV connection from " + conn->peer_name + " closed";
    }
  } catch (const failure& e) {
    why = "KV connection from " + conn->peer_name + " failed: " + e.what();
  }
  // Every request this connection was carrying is lost with it.
  registry_.connection_lost(conn->id, why);
  std::lock_guard lock(mutex_);
  conn->socket.reset();  // marks the connection for reaping; the thread is joined later
}

bool kv_receiver::handle_frame(connection& conn) {
  received_header h;
  if (!read_header(conn.socket, h)) return false;
  switch (h.header.kind) {
    case frame_kind::kv_block:
    case frame_kind::linear_state: land_payload(conn, h); return true;
    case frame_kind::request_done:
    case frame_kind::abort:
    case frame_kind::layer_done: registry_.control(conn.id, h.header, conn.peer_name); return true;
    default: throw failure(errc::bad_frame, std::string("unexpected ") + to_string(h.header.kind) + " frame");
  }
}

void kv_receiver::land_payload(connection& conn, const received_header& h) {
  const size_t bytes = h.payload_bytes();
  const auto dst = registry_.begin_payload(conn.id, h.header, bytes, conn.peer_name);
  if (dst.empty()) {
    drain(conn, bytes);
    return;
  }
  // The payload lands in its block: the kernel's copy is the only one.
  std::string error;
  try {
    read_exact(conn.socket, dst);
    frame_decoder::verify_payload(h.seg0(), dst, dst.size());
  } catch (const failure& e) {
    error = e.what();
  }
  registry_.end_payload(h.header, bytes, error);
  if (!error.empty()) throw failure(errc::transport_failed, error);
}

void kv_receiver::drain(connection& conn, size_t bytes) {
  const size_t total = bytes;
  conn.scratch.resize(std::min<size_t>(bytes, 1 << 20));
  while (bytes > 0) {
    const size_t n = std::min(bytes, conn.scratch.size());
    read_exact(conn.socket, std::span(conn.scratch).first(n));
    bytes -= n;
  }
  registry_.count_dropped(total);
}

}  // namespace prfaas::transport
