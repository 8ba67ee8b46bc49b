#include "runtime/transport/transfer_registry.h"

#include "runtime/common/errc.h"

namespace prfaas::transport {

transfer_registry::transfer_registry(event_sink sink, size_t max_pending)
    : sink_(std::move(sink)), max_pending_(max_pending) {}

void transfer_registry::expect(uint64_t request, transfer_view& target) {
  std::lock_guard lock(mutex_);
  PRFAAS_REQUIRE(!pending_.count(request), "request " + std::to_string(request) + " already expected");
  if (pending_.size() >= max_pending_)
    throw failure(errc::no_capacity, "KV receiver expects its maximum of " + std::to_string(max_pending_) + " requests");
  pending p;
  p.target = &target;
  p.received.assign(target.layers(), 0);
  p.layer_ready.assign(target.layers(), false);
  pending_.emplace(request, std::move(p));
}

void transfer_registry::cancel(uint64_t request) {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] {
    auto it = pending_.find(request);
    return it == pending_.end() || it->second.busy == 0;
  });
  pending_.erase(request);
}

std::span<std::byte> transfer_registry::begin_payload(uint64_t connection, const frame_header& f, size_t bytes,
                                                      const std::string& peer) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(f.request);
  if (it == pending_.end() || it->second.failed) {
    ++counters_.frames_rejected;
    return {};
  }
  pending& p = it->second;
  p.connections.insert(connection);
  transfer_view& t = *p.target;
  const int layer = static_cast<int>(f.layer);
  std::string error;
  if (f.layer >= static_cast<uint32_t>(t.layers()))
    error = "layer " + std::to_string(f.layer) + " out of range";
  // A device payload's kind is the layer's own; a TCP frame must say the same kind.
  else if (f.kind != frame_kind::device_payload && (t.kind(layer) == payload_kind::block) != (f.kind == frame_kind::kv_block))
    error = std::string(to_string(f.kind)) + " frame for layer " + std::to_string(layer) + " of the other kind";
  else if (f.token_count != t.token_count())
    error = "frame covers " + std::to_string(f.token_count) + " tokens, expected " + std::to_string(t.token_count());
  else if (f.index >= static_cast<uint32_t>(t.payload_count(layer)) || p.layer_ready[layer])
    error = "payload index " + std::to_string(f.index) + " out of range for layer " + std::to_string(layer);
  else if (t.payload(layer, static_cast<int>(f.index)).size() != bytes)
    error = "payload of " + std::to_string(bytes) + " bytes does not fit its block";
  if (!error.empty()) {
    ++counters_.frames_rejected;
    fail_locked(f.request, "bad KV frame from " + peer + ": " + error);
    return {};
  }
  ++p.busy;
  return t.payload(layer, static_cast<int>(f.index));
}

void transfer_registry::end_payload(const frame_header& f, size_t bytes, const std::string& error) {
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
        sink_(transfer_event{transfer_event::layer_ready, f.request, layer, 0, {}});
      }
      maybe_complete_locked(f.request);
    }
  }
  idle_.notify_all();
}

void transfer_registry::control(uint64_t connection, const frame_header& h, const std::string& peer) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(h.request);
  if (it == pending_.end() || it->second.failed) {
    ++counters_.frames_rejected;
    return;
  }
  pending& p = it->second;
  p.connections.insert(connection);
  if (h.kind == frame_kind::abort) {
    fail_locked(h.request, peer + " aborted the transfer: " + h.reason);
  } else if (h.kind == frame_kind::request_done) {
    if (h.token_count != p.target->token_count()) {
      fail_locked(h.request, "request_done for " + std::to_string(h.token_count) + " tokens, expected " +
                                 std::to_string(p.target->token_count()));
      return;
    }
    p.done_seen = true;
    p.first_token = h.first_token;
    maybe_complete_locked(h.request);
  } else if (h.layer >= static_cast<uint32_t>(p.target->layers()) ||
             h.index != static_cast<uint32_t>(p.target->payload_count(static_cast<int>(h.layer)))) {
    fail_locked(h.request, "layer_done for layer " + std::to_string(h.layer) + " does not match the transfer");
  }
}

void transfer_registry::connection_lost(uint64_t connection, const std::string& why) {
  std::lock_guard lock(mutex_);
  std::vector<uint64_t> lost;
  for (auto& [id, p] : pending_)
    if (p.connections.count(connection)) lost.push_back(id);
  for (uint64_t id : lost) fail_locked(id, why);
}

void transfer_registry::count_dropped(size_t bytes) {
  std::lock_guard lock(mutex_);
  counters_.dropped_bytes += bytes;
}

void transfer_registry::count_connection(bool accepted) {
  std::lock_guard lock(mutex_);
  ++(accepted ? counters_.connections : counters_.refused);
}

receive_counters transfer_registry::stats() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void transfer_registry::maybe_complete_locked(uint64_t request) {
  auto it = pending_.find(request);
  if (it == pending_.end()) return;
  pending& p = it->second;
  if (!p.done_seen || p.busy != 0 || p.layers_ready != p.target->layers()) return;
  const int32_t first = p.first_token;
  pending_.erase(it);
  sink_(transfer_event{transfer_event::complete, request, -1, first, {}});
}

void transfer_registry::fail_locked(uint64_t request, const std::string& why) {
  auto it = pending_.find(request);
  if (it == pending_.end() || it->second.failed) return;
  // A payload being written right now keeps the entry until its writer is done with it.
  if (it->second.busy == 0) pending_.erase(it);
  else it->second.failed = true;
  sink_(transfer_event{transfer_event::failed, request, -1, 0, why});
}

}  // namespace prfaas::transport
