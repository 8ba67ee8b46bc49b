#include "runtime/transport/kv_receiver.h"

#include <sstream>


#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "runtime/common/errc.h"
#include "runtime/common/socket_address.h"
#include "runtime/transport/link_options.h"

namespace prfaas::transport {

namespace {

// The peer's address without its port: what a host's handshake slots are counted by.
std::string peer_host(const socket_fd& s) {
  const auto a = peer_address(s.get());
  return a ? host_text(*a) : "unknown";
}

}  // namespace

struct kv_receiver::connection {
  uint64_t id = 0;
  socket_fd socket;
  frame_reader reader{socket};     // after the handshake: frames with a readv each (frame_io.h)
  std::string peer_name = "unknown peer";
  std::thread thread;
  std::vector<std::byte> scratch;  // drain buffer for frames nobody expects
  frame_encoder enc;               // acks and resume answers: only this connection's thread writes
  uint64_t last_refused = 0;       // the request last told "not expected" (once, not per frame)
  std::unique_ptr<payload_cipher> cipher;  // the sender asked for encrypted payloads
  std::string address;             // the peer's address, whose handshake slots it takes
  std::atomic<bool> handshaking{true};
  std::chrono::steady_clock::time_point handshake_deadline;
};



std::optional<accepted_peer> accept_handshake(const socket_fd& s, const std::string& secret,
                                              bool require_encryption, const std::string& layout) {
  received_header h;
  if (!read_header(s, h)) throw failure(errc::transport_failed, "peer closed the connection before hello");
  if (h.header.kind != frame_kind::hello) throw failure(errc::bad_frame, "first frame is not hello");
  if (h.header.version != kProtocolVersion)
    throw failure(errc::bad_frame, "protocol version " + std::to_string(h.header.version) + ", expected " +
                                       std::to_string(kProtocolVersion));
  const std::string peer = h.header.reason.empty() ? "unnamed peer" : h.header.reason;
  const bool encrypt = h.header.token_count == kHelloEncrypt;
  frame_encoder enc;
  auto refuse = [&](const std::string& why) -> std::optional<accepted_peer> {
    spdlog::warn("KV receiver: refused a connection from '{}': {}", peer, why);
    frame_header a;
    a.kind = frame_kind::abort;
    a.reason = why;
    write_frame(s, enc, a);
    return std::nullopt;
  };
  if (require_encryption && !encrypt) return refuse("this receiver takes encrypted links only (transport.encrypt)");
  if (!layout.empty() && h.header.layout != layout) {
    // Name the fields that differ (the whole descriptors would not fit a frame's reason).
    std::istringstream a(h.header.layout.empty() ? std::string("(none)") : h.header.layout), b(layout);
    std::string x, y, theirs, ours;
    while (true) {
      const bool more_a = static_cast<bool>(a >> x), more_b = static_cast<bool>(b >> y);
      if (!more_a && !more_b) break;
      if (!more_a) x.clear();
      if (!more_b) y.clear();
      if (x != y) {
        theirs += (theirs.empty() ? "" : " ") + x;
        ours += (ours.empty() ? "" : " ") + y;
      }
    }
    return refuse("KV layout differs: the sender's [" + theirs.substr(0, 100) + "], this receiver's [" +
                  ours.substr(0, 100) + "]");
  }
  if (encrypt && secret.empty()) return refuse("encrypted links need the deployment's shared secret");
  accepted_peer out{peer, std::nullopt};
  if (!secret.empty()) {
    const auto nonce = random_challenge();
    frame_header c;
    c.kind = frame_kind::challenge;
    write_frame(s, enc, c, std::as_bytes(std::span(nonce)));
    received_header p;
    std::vector<uint8_t> proof;
    if (read_header(s, p) && p.header.kind == frame_kind::proof) proof = read_small_payload(s, p, 64);
    // The sender's proof (32 bytes), then its own challenge (32 bytes).
    const std::vector<uint8_t> theirs(proof.begin(), proof.begin() + std::min<size_t>(proof.size(), 32));
    if (proof.size() != 64 || !proofs_equal(theirs, handshake_proof(secret, nonce, peer))) {
      spdlog::warn("KV receiver: refused a connection from '{}': authentication failed", peer);
      return std::nullopt;
    }
    const std::vector<uint8_t> challenge(proof.begin() + 32, proof.end());
    if (encrypt) out.key = derive_payload_key(secret, nonce, challenge);
    const auto answer = receiver_proof(secret, challenge, peer);
    std::vector<uint64_t> aligned((answer.size() + 7) / 8);
    std::memcpy(aligned.data(), answer.data(), answer.size());
    frame_header mine;
    mine.kind = frame_kind::proof;
    write_frame(s, enc, mine, std::as_bytes(std::span(aligned)));
  }
  return out;
}

kv_receiver::kv_receiver(const endpoint& listen_at, event_sink sink, receiver_options options)
    : options_(std::move(options)),
      registry_(std::move(sink), options_.max_pending, options_.resume_window, options_.expect_grace),
      listener_(listen_tcp(listen_at)) {
  port_ = local_port(listener_);
  registry_.set_interrupter([this](uint64_t id) { cut(id); });
  acceptor_ = std::thread([this] { accept_loop(); });
}

kv_receiver::~kv_receiver() {
  stopping_ = true;
  registry_.close();
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

void kv_receiver::refuse(socket_fd s, const std::string& why) {
  registry_.count_connection(false);
  if (const auto held = log_.allow(std::chrono::steady_clock::now()))
    spdlog::warn("KV receiver: refused a connection from {}: {}{}", peer_host(s), why,
                 log_budget::held_note(*held));
  try {
    set_receive_timeout(s, std::chrono::milliseconds(100));
    frame_encoder enc;
    frame_header a;
    a.kind = frame_kind::abort;
    a.reason = why;
    write_frame(s, enc, a);  // a small frame into a fresh socket's buffer: never blocks
  } catch (const failure&) {
  }
}

void kv_receiver::cut_late_handshakes() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& c : connections_)
    if (c->handshaking && c->socket && now > c->handshake_deadline) {
      c->socket.shutdown_both();  // its thread sees the connection end and cleans up
      c->handshake_deadline = std::chrono::steady_clock::time_point::max();
    }
}

void kv_receiver::cut(uint64_t id) {
  std::lock_guard lock(mutex_);
  for (auto& c : connections_)
    if (c->id == id) c->socket.shutdown_both();
}

void kv_receiver::accept_loop() {
  uint64_t next_id = 1;
  // Looks between connections: every 100 ms while a handshake runs against its deadline; else a
  // quarter of the resume window (at most a second), so a resting node is not woken ten times a
  // second to find nothing late.
  const auto resting = std::clamp(options_.resume_window / 4, std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  while (!stopping_) {
    bool in_handshake = false;
    {
      std::lock_guard lock(mutex_);
      for (const auto& c : connections_) in_handshake |= c->socket && c->handshaking;
    }
    // Between connections, interrupted transfers past their resume window fail.
    if (!wait_readable(listener_, in_handshake ? std::chrono::milliseconds(100) : resting)) {
      registry_.expire();
      std::lock_guard lock(mutex_);
      cut_late_handshakes();
      continue;
    }
    socket_fd s = accept_tcp(listener_);
    if (!s) break;
    std::lock_guard lock(mutex_);
    cut_late_handshakes();
    // Reap finished connections so the bound counts live ones.
    std::erase_if(connections_, [](const std::shared_ptr<connection>& c) {
      if (c->socket) return false;
      if (c->thread.joinable()) c->thread.join();
      return true;
    });
    // A refusal says why, so a real peer refused at a bound does not blame its secret.
    if (static_cast<int>(connections_.size()) >= options_.max_connections) {
      refuse(std::move(s), "the receiver holds its maximum of " + std::to_string(options_.max_connections) + " connections");
      continue;
    }
    // Handshake slots, in all and per address: counted over the connections still in theirs.
    const std::string address = peer_host(s);
    int handshaking = 0, same_address = 0;
    for (const auto& c : connections_)
      if (c->handshaking) ++handshaking, same_address += c->address == address;
    if (handshaking >= options_.max_handshaking) {
      refuse(std::move(s), std::to_string(options_.max_handshaking) + " connections are in their handshake already");
      continue;
    }
    if (same_address >= options_.max_handshaking_per_peer) {
      refuse(std::move(s), std::to_string(options_.max_handshaking_per_peer) + " connections from " + address +
                               " are in their handshake already");
      continue;
    }
    auto conn = std::make_shared<connection>();
    conn->id = next_id++;
    conn->address = address;
    conn->handshake_deadline = std::chrono::steady_clock::now() + options_.handshake_timeout;
    conn->socket = std::move(s);
    connections_.push_back(conn);
    conn->thread = std::thread([this, conn] { serve(conn); });
  }
}

void kv_receiver::serve(std::shared_ptr<connection> conn) {
  std::string why;
  try {
    // A peer that connects and then says nothing (or stops mid-frame) is not waited for forever.
    set_receive_timeout(conn->socket, options_.handshake_timeout);
    std::optional<accepted_peer> peer;
    try {
      peer = accept_handshake(conn->socket, options_.secret, options_.require_encryption, options_.layout);
    } catch (...) {
      conn->handshaking = false;
      throw;
    }
    conn->handshaking = false;
    set_receive_timeout(conn->socket, options_.receive_timeout);
    registry_.count_connection(peer.has_value());  // before the peer hears it: its stats see this
    if (peer) {
      conn->peer_name = peer->name;
      if (peer->key) conn->cipher = std::make_unique<payload_cipher>(*peer->key);
      frame_encoder enc;
      frame_header ok;
      ok.kind = frame_kind::accepted;
      write_frame(conn->socket, enc, ok);
      const auto tick = std::min(std::chrono::milliseconds(500), options_.receive_timeout);
      while (!stopping_) {
        if (!conn->reader.buffered() && !wait_readable(conn->socket, tick)) {
          if (registry_.stalled(conn->id, options_.receive_timeout))
            throw failure(errc::transport_failed, "no KV byte for " + std::to_string(options_.receive_timeout.count()) +
                                                      " ms in the middle of a transfer");
          continue;
        }
        if (!handle_frame(*conn)) break;
      }
      why = "KV connection from " + conn->peer_name + " closed";
    }
  } catch (const failure& e) {
    why = "KV connection from " + conn->peer_name + " failed: " + e.what();
  }
  // The transfers it carried wait for their sender to resume them over a new connection.
  if (!stopping_) spdlog::info("KV receiver: {}", why);
  registry_.connection_lost(conn->id, why);
  std::lock_guard lock(mutex_);
  conn->socket.reset();  // marks the connection for reaping; the thread is joined later
}

bool kv_receiver::handle_frame(connection& conn) {
  received_header h;
  if (!conn.reader.read_header(h)) return false;
  switch (h.header.kind) {
    case frame_kind::kv_block:
    case frame_kind::linear_state: land_payload(conn, h); return true;
    case frame_kind::request_done:
    case frame_kind::abort:
    case frame_kind::layer_done: acknowledge(conn, registry_.control(conn.id, h.header, conn.peer_name)); return true;
    case frame_kind::resume: answer_resume(conn, h.header.request); return true;
    default: throw failure(errc::bad_frame, std::string("unexpected ") + to_string(h.header.kind) + " frame");
  }
}

void kv_receiver::land_payload(connection& conn, const received_header& h) {
  const size_t bytes = h.payload_bytes();
  const auto land = registry_.begin_payload(conn.id, h.header, bytes, conn.peer_name);
  if (land.dst.empty()) {
    drain(conn, bytes);
    if (conn.cipher) conn.cipher->skip();  // its number is spent: both ends count every payload
    if (land.unknown && conn.last_refused != h.header.request) {
      conn.last_refused = h.header.request;  // the sender hears it once, and stops sending
      acknowledge(conn, {receipt::failed, h.header.request, 0, "the receiver does not expect this request"});
    }
    return;
  }
  // The payload lands in its block: the kernel's copy is the only one.
  std::string error;
  bool broken = false;
  try {
    const uint64_t copied = conn.reader.copied_bytes();
    conn.reader.read_payload(land.dst);
    if (conn.reader.copied_bytes() > copied) registry_.count_copied(conn.reader.copied_bytes() - copied);
  } catch (const failure& e) {
    error = e.what();
    broken = true;
  }
  if (!broken) {
    try {
      frame_decoder::verify_payload(h.seg0(), land.dst, land.dst.size());
    } catch (const failure& e) {
      error = e.what();
    }
    // Decrypted in place; a payload that fails authentication was tampered with (or the ends
    // disagree on transport.encrypt): the link is not trusted further.
    if (conn.cipher && !h.header.has_tag) {
      error = "an unencrypted payload on an encrypted link";
      broken = true;
    } else if (conn.cipher && !conn.cipher->open(h.header, land.dst, h.header.tag)) {
      error = "a payload failed authentication (tampered with on the way?)";
      broken = true;
    } else if (!conn.cipher && h.header.has_tag) {
      error = "an encrypted payload on a plaintext link";
      broken = true;
    }
  }
  const receipt r = registry_.end_payload(conn.id, h.header, bytes, error, broken);
  if (broken) throw failure(errc::transport_failed, error);
  acknowledge(conn, r);
}

void kv_receiver::acknowledge(connection& conn, const receipt& r) {
  if (r.kind != receipt::none) write_frame(conn.socket, conn.enc, ack_frame(r));
}

void kv_receiver::answer_resume(connection& conn, uint64_t request) {
  const resume_answer ans = registry_.resume(conn.id, request);
  frame_header a;
  a.kind = frame_kind::resume_state;
  a.request = request;
  a.index = static_cast<uint32_t>(ans.kind == resume_answer::active     ? resume_kind::active
                                  : ans.kind == resume_answer::complete ? resume_kind::complete
                                                                        : resume_kind::unknown);
  a.reason = ans.why;
  write_frame(conn.socket, conn.enc, a, std::as_bytes(std::span(ans.landed)));
}

void kv_receiver::drain(connection& conn, size_t bytes) {
  conn.scratch.resize(std::min<size_t>(bytes, 1 << 20));
  conn.reader.skip(bytes, conn.scratch);
  registry_.count_dropped(bytes);
}

}  // namespace prfaas::transport
