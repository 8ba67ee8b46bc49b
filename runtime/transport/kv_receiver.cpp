#include "runtime/transport/kv_receiver.h"

#include <array>

#include "runtime/common/errc.h"

namespace prfaas::transport {

struct kv_receiver::pending {
  kv::sequence_kv* kv = nullptr;
  std::vector<int> received;      // payloads landed per layer
  std::vector<bool> layer_done;
  int busy = 0;                   // receiver threads writing into kv right now
  uint64_t connection = 0;        // the connection that carries it (0: none yet)
  bool failed = false;            // reported failed; erased once no writer is left
};

struct kv_receiver::connection {
  uint64_t id = 0;
  socket_fd socket;
  std::string peer_name = "unknown peer";
  bool greeted = false;
  std::thread thread;
  std::vector<std::byte> scratch;  // drain buffer for frames nobody expects
};

kv_receiver::kv_receiver(const endpoint& listen_at, event_sink sink, int max_connections)
    : sink_(std::move(sink)), max_connections_(max_connections), listener_(listen_tcp(listen_at)) {
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

void kv_receiver::expect(uint64_t request, kv::sequence_kv& kv) {
  std::lock_guard lock(mutex_);
  PRFAAS_REQUIRE(!pending_.count(request), "request " + std::to_string(request) + " already expected");
  pending p;
  p.kv = &kv;
  p.received.assign(kv.config().n_layers, 0);
  p.layer_done.assign(kv.config().n_layers, false);
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
    if (static_cast<int>(connections_.size()) >= max_connections_) continue;  // closes s
    auto conn = std::make_shared<connection>();
    conn->id = next_id++;
    conn->socket = std::move(s);
    ++counters_.connections;
    connections_.push_back(conn);
    conn->thread = std::thread([this, conn] { serve(conn); });
  }
}

void kv_receiver::serve(std::shared_ptr<connection> conn) {
  std::string why = "closed by " + conn->peer_name;
  try {
    while (!stopping_ && handle_frame(*conn)) {}
    why = "KV connection from " + conn->peer_name + " closed";
  } catch (const failure& e) {
    why = "KV connection from " + conn->peer_name + " failed: " + e.what();
  }
  std::lock_guard lock(mutex_);
  // Every request this connection was carrying is lost with it.
  std::vector<uint64_t> lost;
  for (auto& [id, p] : pending_)
    if (p.connection == conn->id) lost.push_back(id);
  for (uint64_t id : lost) fail_locked(id, why);
  conn->socket.reset();  // marks the connection for reaping; the thread is joined later
}

bool kv_receiver::handle_frame(connection& conn) {
  alignas(8) std::array<std::byte, 16> table_buf{};
  if (!read_exact(conn.socket, std::span(table_buf).first(8))) return false;
  const size_t table_len = frame_decoder::table_bytes(std::span<const std::byte, 8>(table_buf.data(), 8));
  if (table_len > 8) read_exact(conn.socket, std::span(table_buf).subspan(8, table_len - 8));
  const segment_table t = frame_decoder::parse_table(std::span(table_buf).first(table_len));
  alignas(8) std::array<std::byte, kMaxHeaderWords * 8> seg0_buf;
  auto seg0 = std::span(seg0_buf).first(t.header_words * 8);
  read_exact(conn.socket, seg0);
  const frame_header h = frame_decoder::decode_header(seg0, t);

  if (!conn.greeted) {
    if (h.kind != frame_kind::hello) throw failure(errc::bad_frame, "first frame is not hello");
    if (h.version != kProtocolVersion)
      throw failure(errc::bad_frame, "protocol version " + std::to_string(h.version) + ", expected " +
                                         std::to_string(kProtocolVersion));
    conn.greeted = true;
    conn.peer_name = h.reason.empty() ? "unnamed peer" : h.reason;
    return true;
  }

  switch (h.kind) {
    case frame_kind::hello: throw failure(errc::bad_frame, "second hello");
    case frame_kind::kv_block:
    case frame_kind::linear_state: land_payload(conn, h, t, seg0); return true;
    default: break;
  }
  std::unique_lock lock(mutex_);
  auto it = pending_.find(h.request);
  if (it == pending_.end() || it->second.failed) {
    ++counters_.frames_rejected;
    return true;
  }
  pending& p = it->second;
  p.connection = conn.id;
  const auto& config = p.kv->config();
  if (h.kind == frame_kind::abort) {
    fail_locked(h.request, conn.peer_name + " aborted the transfer: " + h.reason);
  } else if (h.kind == frame_kind::layer_done) {
    if (h.layer >= static_cast<uint32_t>(config.n_layers) || p.layer_done[h.layer] ||
        p.received[h.layer] != p.kv->payload_count(static_cast<int>(h.layer))) {
      fail_locked(h.request, "layer_done for layer " + std::to_string(h.layer) + " does not match what arrived");
      return true;
    }
    p.layer_done[h.layer] = true;
    lock.unlock();
    sink_(event{event::layer_ready, h.request, static_cast<int>(h.layer), 0, {}});
  } else if (h.kind == frame_kind::request_done) {
    bool all = h.token_count == static_cast<uint32_t>(p.kv->tokens());
    for (bool d : p.layer_done) all = all && d;
    if (!all || p.busy != 0) {
      fail_locked(h.request, "request_done before every layer arrived");
      return true;
    }
    pending_.erase(it);
    lock.unlock();
    sink_(event{event::complete, h.request, -1, h.first_token, {}});
  }
  return true;
}

void kv_receiver::land_payload(connection& conn, const frame_header& h, const segment_table& t,
                               std::span<const std::byte> seg0) {
  const size_t bytes = t.payload_words * 8;
  std::span<std::byte> dst;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(h.request);
    if (it == pending_.end() || it->second.failed) {
      ++counters_.frames_rejected;
    } else {
      pending& p = it->second;
      p.connection = conn.id;
      const auto& config = p.kv->config();
      const int layer = static_cast<int>(h.layer);
      std::string error;
      if (h.layer >= static_cast<uint32_t>(config.n_layers))
        error = "layer " + std::to_string(h.layer) + " out of range";
      else if ((config.kind(layer) == model::layer_kind::full) != (h.kind == frame_kind::kv_block))
        error = std::string(to_string(h.kind)) + " frame for layer " + std::to_string(layer) + " of the other kind";
      else if (h.token_count != static_cast<uint32_t>(p.kv->tokens()))
        error = "frame covers " + std::to_string(h.token_count) + " tokens, expected " + std::to_string(p.kv->tokens());
      else if (h.index >= static_cast<uint32_t>(p.kv->payload_count(layer)) || p.layer_done[layer])
        error = "payload index " + std::to_string(h.index) + " out of range for layer " + std::to_string(layer);
      else if (p.kv->payload(layer, static_cast<int>(h.index)).size() != bytes)
        error = "payload of " + std::to_string(bytes) + " bytes does not fit its block";
      if (error.empty()) {
        dst = p.kv->payload(layer, static_cast<int>(h.index));
        ++p.busy;
      } else {
        ++counters_.frames_rejected;
        fail_locked(h.request, "bad KV frame from " + conn.peer_name + ": " + error);
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
    frame_decoder::verify_payload(seg0, dst, dst.size());
  } catch (const failure& e) {
    error = e.what();
  }
  std::lock_guard lock(mutex_);
  auto it = pending_.find(h.request);
  if (it != pending_.end()) {
    pending& p = it->second;
    --p.busy;
    if (!error.empty() && !p.failed) {
      fail_locked(h.request, error);  // erases the entry unless another writer is still busy
    } else if (p.failed) {
      if (p.busy == 0) pending_.erase(it);
    } else {
      ++p.received[h.layer];
      counters_.payload_bytes += bytes;
    }
  }
  idle_.notify_all();
  if (!error.empty()) throw failure(errc::transport_failed, error);
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
  const size_t bytes_total = bytes;
  conn.scratch.resize(std::min<size_t>(bytes, 1 << 20));
  while (bytes > 0) {
    const size_t n = std::min(bytes, conn.scratch.size());
    read_exact(conn.socket, std::span(conn.scratch).first(n));
    bytes -= n;
  }
  std::lock_guard lock(mutex_);
  counters_.dropped_bytes += conn.scratch.empty() ? 0 : bytes_total;
}

}  // namespace prfaas::transport
