#include "runtime/transport/kv_receiver.h"

#include <spdlog/spdlog.h>

#include <array>

#include "runtime/common/errc.h"
#include "runtime/transport/link_options.h"

namespace prfaas::transport {

struct kv_receiver::pending {
  transfer_view* target = nullptr;
  std::vector<int> received;      // payloads landed per layer
  std::vector<bool> layer_ready;
  int layers_ready = 0;
  bool done_seen = false;         // request_done arrived (possibly before the last payloads)
  int32_t first_token = 0;
  int busy = 0;                   // receiver threads writing into target right now
  std::set<uint64_t> connections; // the connections that carried it
  bool failed = false;            // reported failed; erased once no writer is left
};

struct kv_receiver::connection {
  uint64_t id = 0;
  socket_fd socket;
  std::string peer_name = "unknown peer";
  std::thread thread;
  std::vector<std::byte> scratch;  // drain buffer for frames nobody expects
};

kv_receiver::kv_receiver(const endpoint& listen_at, event_sink sink, receiver_options options)
    : sink_(std::move(sink)), options_(std::move(options)), listener_(listen_tcp(listen_at)) {
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

void kv_receiver::expect(uint64_t request, transfer_view& target) {
  std::lock_guard lock(mutex_);
  PRFAAS_REQUIRE(!pending_.count(request), "request " + std::to_string(request) + " already expected");
  if (pending_.size() >= options_.max_pending)
    throw failure(errc::no_capacity, "KV receiver expects its maximum of " + std::to_string(options_.max_pending) + " requests");
  pending p;
  p.target = &target;
  p.received.assign(target.layers(), 0);
  p.layer_ready.assign(target.layers(), false);
  pending_.emplace(request, std::move(p));
}

void kv_receiver::cancel(uint64_t request) {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] {
    auto it = pending_.find(request);
    return it == pending_.end() || it->second.busy == 0;
  });
  pending_.erase(request);
}

kv_receiver::counters kv_receiver::stats() const {
  std::lock_guard lock(mutex_);
  return counters_;
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

bool kv_receiver::authenticate(connection& conn) {
  received_header h;
  if (!read_header(conn.socket, h)) return false;
  if (h.header.kind != frame_kind::hello) throw failure(errc::bad_frame, "first frame is not hello");
  if (h.header.version != kProtocolVersion)
    throw failure(errc::bad_frame, "protocol version " + std::to_string(h.header.version) + ", expected " +
                                       std::to_string(kProtocolVersion));
  conn.peer_name = h.header.reason.empty() ? "unnamed peer" : h.header.reason;
  frame_encoder enc;
  if (!options_.secret.empty()) {
    const auto nonce = random_challenge();
    frame_header c;
    c.kind = frame_kind::challenge;
    write_frame(conn.socket, enc, c, std::as_bytes(std::span(nonce)));
    received_header p;
    std::vector<uint8_t> proof;
    if (read_header(conn.socket, p) && p.header.kind == frame_kind::proof) proof = read_small_payload(conn.socket, p, 64);
    if (!proofs_equal(proof, handshake_proof(options_.secret, nonce, conn.peer_name))) {
      spdlog::warn("KV receiver: refused a connection from '{}': authentication failed", conn.peer_name);
      std::lock_guard lock(mutex_);
      ++counters_.refused;
      return false;
    }
  }
  {
    std::lock_guard lock(mutex_);
    ++counters_.connections;  // counted before the peer hears it: its stats see this connection
  }
  frame_header ok;
  ok.kind = frame_kind::accepted;
  write_frame(conn.socket, enc, ok);
  return true;
}

void kv_receiver::serve(std::shared_ptr<connection> conn) {
  std::string why;
  try {
    if (authenticate(*conn)) {
      while (!stopping_ && handle_frame(*conn)) {}
      why = "KV connection from " + conn->peer_name + " closed";
    }
  } catch (const failure& e) {
    why = "KV connection from " + conn->peer_name + " failed: " + e.what();
  }
  std::lock_guard lock(mutex_);
  // Every request this connection was carrying is lost with it.
  std::vector<uint64_t> lost;
  for (auto& [id, p] : pending_)
    if (p.connections.count(conn->id)) lost.push_back(id);
  for (uint64_t id : lost) fail_locked(id, why);
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
    case frame_kind::layer_done: break;
    default: throw failure(errc::bad_frame, std::string("unexpected ") + to_string(h.header.kind) + " frame");
  }
  std::lock_guard lock(mutex_);
  auto it = pending_.find(h.header.request);
  if (it == pending_.end() || it->second.failed) {
    ++counters_.frames_rejected;
    return true;
  }
  pending& p = it->second;
  p.connections.insert(conn.id);
  if (h.header.kind == frame_kind::abort) {
    fail_locked(h.header.request, conn.peer_name + " aborted the transfer: " + h.header.reason);
  } else if (h.header.kind == frame_kind::request_done) {
    if (h.header.token_count != p.target->token_count()) {
      fail_locked(h.header.request, "request_done for " + std::to_string(h.header.token_count) + " tokens, expected " +
                                        std::to_string(p.target->token_count()));
      return true;
    }
    p.done_seen = true;
    p.first_token = h.header.first_token;
    maybe_complete_locked(h.header.request);
  } else if (h.header.layer >= static_cast<uint32_t>(p.target->layers()) ||
             h.header.index != static_cast<uint32_t>(p.target->payload_count(static_cast<int>(h.header.layer)))) {
    fail_locked(h.header.request, "layer_done for layer " + std::to_string(h.header.layer) + " does not match the transfer");
  }
  return true;
}

void kv_receiver::land_payload(connection& conn, const received_header& h) {
  const size_t bytes = h.payload_bytes();
  const auto& f = h.header;
  std::span<std::byte> dst;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(f.request);
    if (it == pending_.end() || it->second.failed) {
      ++counters_.frames_rejected;
    } else {
      pending& p = it->second;
      p.connections.insert(conn.id);
      transfer_view& t = *p.target;
      const int layer = static_cast<int>(f.layer);
      std::string error;
      if (f.layer >= static_cast<uint32_t>(t.layers()))
        error = "layer " + std::to_string(f.layer) + " out of range";
      else if ((t.kind(layer) == payload_kind::block) != (f.kind == frame_kind::kv_block))
        error = std::string(to_string(f.kind)) + " frame for layer " + std::to_string(layer) + " of the other kind";
      else if (f.token_count != t.token_count())
        error = "frame covers " + std::to_string(f.token_count) + " tokens, expected " + std::to_string(t.token_count());
      else if (f.index >= static_cast<uint32_t>(t.payload_count(layer)) || p.layer_ready[layer])
        error = "payload index " + std::to_string(f.index) + " out of range for layer " + std::to_string(layer);
      else if (t.payload(layer, static_cast<int>(f.index)).size() != bytes)
        error = "payload of " + std::to_string(bytes) + " bytes does not fit its block";
      if (error.empty()) {
        dst = t.payload(layer, static_cast<int>(f.index));
        ++p.busy;
      } else {
        ++counters_.frames_rejected;
        fail_locked(f.request, "bad KV frame from " + conn.peer_name + ": " + error);
      }
    }
  }
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
  std::lock_guard lock(mutex_);
  auto it = pending_.find(f.request);
  if (it != pending_.end()) {
    pending& p = it->second;
    --p.busy;
    if (!error.empty() && !p.failed) {
      fail_locked(f.request, error);  // erases the entry unless another writer is still busy
    } else if (p.failed) {
      if (p.busy == 0) pending_.erase(it);
    } else {
      counters_.payload_bytes += bytes;
      const int layer = static_cast<int>(f.layer);
      if (++p.received[layer] == p.target->payload_count(layer)) {
        p.layer_ready[layer] = true;
        ++p.layers_ready;
        sink_(event{event::layer_ready, f.request, layer, 0, {}});
      }
      maybe_complete_locked(f.request);
    }
  }
  idle_.notify_all();
  if (!error.empty()) throw failure(errc::transport_failed, error);
}

void kv_receiver::maybe_complete_locked(uint64_t request) {
  auto it = pending_.find(request);
  if (it == pending_.end()) return;
  pending& p = it->second;
  if (!p.done_seen || p.busy != 0 || p.layers_ready != p.target->layers()) return;
  const int32_t first = p.first_token;
  pending_.erase(it);
  sink_(event{event::complete, request, -1, first, {}});
}

void kv_receiver::fail_locked(uint64_t request, const std::string& why) {
  auto it = pending_.find(request);
  if (it == pending_.end() || it->second.failed) return;
  // A payload being written right now keeps the entry until its writer is done with it.
  if (it->second.busy == 0) pending_.erase(it);
  else it->second.failed = true;
  sink_(event{event::failed, request, -1, 0, why});
}

void kv_receiver::drain(connection& conn, size_t bytes) {
  const size_t total = bytes;
  conn.scratch.resize(std::min<size_t>(bytes, 1 << 20));
  while (bytes > 0) {
    const size_t n = std::min(bytes, conn.scratch.size());
    read_exact(conn.socket, std::span(conn.scratch).first(n));
    bytes -= n;
  }
  std::lock_guard lock(mutex_);
  counters_.dropped_bytes += total;
}

}  // namespace prfaas::transport
