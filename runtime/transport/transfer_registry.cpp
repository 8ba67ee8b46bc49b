#include "runtime/transport/transfer_registry.h"

#include "runtime/common/errc.h"

namespace prfaas::transport {
transfer_registry::transfer_registry(event_sink sink, size_t max_pending, std::chrono::milliseconds resume_window,
                                     std::chrono::milliseconds expect_grace)
    : sink_(std::move(sink)), max_pending_(max_pending), resume_window_(resume_window), expect_grace_(expect_grace) {}

std::map<uint64_t, transfer_registry::pending>::iterator transfer_registry::await_expected(
    std::unique_lock<std::mutex>& lock, uint64_t request) {
  auto it = pending_.find(request);
  if (it != pending_.end() || recent_.find(request) || closed_ || expect_grace_.count() <= 0) return it;
  // Ahead of its reservation, or nobody's: it waits once, then counts as ended here.
  expected_.wait_for(lock, expect_grace_, [&] { return closed_ || pending_.count(request) || recent_.find(request); });
  it = pending_.find(request);
  if (it == pending_.end() && !recent_.find(request)) recent_.remember(request, false);
  return it;
}

void transfer_registry::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  expected_.notify_all();
}

void transfer_registry::expect(uint64_t request, transfer_view& target) {
  std::lock_guard lock(mutex_);
  expire_locked(clock::now());
  PRFAAS_REQUIRE(!pending_.count(request), "request " + std::to_string(request) + " already expected");
  if (pending_.size() >= max_pending_)
    throw failure(errc::no_capacity, "KV receiver expects its maximum of " + std::to_string(max_pending_) + " requests");
  pending p;
  p.target = &target;
  payload_numbering n(target);
  p.offset = std::move(n.offset);
  p.landed.assign(n.total, false);
  p.received.assign(target.layers(), 0);
  p.layer_ready.assign(target.layers(), false);
  p.progress = clock::now();
  recent_.forget(request);  // a request id may come back (a new attempt on the same node)
  pending_.emplace(request, std::move(p));
  expected_.notify_all();
}

void transfer_registry::cancel(uint64_t request) {
  std::unique_lock lock(mutex_);
  recent_.remember(request, false);  // its payloads, early or late, wait for nothing
  auto it = pending_.find(request);
  if (it == pending_.end()) {
    expected_.notify_all();  // early payloads waiting for it are dropped now
    return;
  }
  it->second.failed = true;  // nothing new lands in it
  const std::set<uint64_t> busy(it->second.writing.begin(), it->second.writing.end());
  if (!busy.empty() && cut_) {
    lock.unlock();
    for (uint64_t c : busy) cut_(c);
    lock.lock();
  }
  idle_.wait(lock, [&] {
    auto i = pending_.find(request);
    return i == pending_.end() || i->second.writing.empty();
  });
  pending_.erase(request);
}

transfer_registry::landing transfer_registry::begin_payload(uint64_t connection, const frame_header& f, size_t bytes,
                                                            const std::string& peer) {
  std::unique_lock lock(mutex_);
  auto it = await_expected(lock, f.request);
  if (it == pending_.end() || it->second.failed) {
    ++counters_.frames_rejected;
    return {{}, true};
  }
  pending& p = it->second;
  p.connections.insert(connection);
  p.progress = clock::now();
  p.interrupted = {};
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
  else if (f.index >= static_cast<uint32_t>(t.payload_count(layer)))
    error = "payload index " + std::to_string(f.index) + " out of range for layer " + std::to_string(layer);
  else if (t.payload(layer, static_cast<int>(f.index)).size() != bytes)
    error = "payload of " + std::to_string(bytes) + " bytes does not fit its block";
  if (!error.empty()) {
    ++counters_.frames_rejected;
    fail_locked(f.request, "bad KV frame from " + peer + ": " + error, errc::bad_frame);
    return {};
  }
  if (p.landed[p.offset[layer] + f.index]) {  // re-sent after a resume: already here
    counters_.duplicate_bytes += bytes;
    return {};
  }
  p.writing.insert(connection);
  return {t.payload(layer, static_cast<int>(f.index)), false};
}

receipt transfer_registry::end_payload(uint64_t connection, const frame_header& f, size_t bytes, const std::string& error,
                                       bool connection_error) {
  receipt out;
  std::lock_guard lock(mutex_);
  auto it = pending_.find(f.request);
  if (it != pending_.end()) {
    pending& p = it->second;
    if (auto w = p.writing.find(connection); w != p.writing.end()) p.writing.erase(w);
    const int layer = static_cast<int>(f.layer);
    if (p.failed) {
      if (p.writing.empty()) pending_.erase(it);
    } else if (!error.empty()) {
      // A broken connection leaves the payload missing (a resume sends it again); a payload that
      // arrived whole but wrong fails the request.
      if (!connection_error) out = fail_locked(f.request, error, errc::bad_frame);
    } else if (!p.landed[p.offset[layer] + f.index]) {
      p.landed[p.offset[layer] + f.index] = true;
      counters_.payload_bytes += bytes;
      p.progress = clock::now();
      if (p.first_landed == clock::time_point{}) p.first_landed = p.progress;
      if (++p.received[layer] == p.target->payload_count(layer)) {
        p.layer_ready[layer] = true;
        ++p.layers_ready;
        sink_(transfer_event{transfer_event::layer_ready, f.request, layer, 0, {}});
        out = progress_receipt(f.request, p);
      }
      if (receipt done = maybe_complete_locked(f.request); done.kind != receipt::none) out = done;
    }
  }
  idle_.notify_all();
  return out;
}

receipt transfer_registry::control(uint64_t connection, const frame_header& h, const std::string& peer) {
  std::unique_lock lock(mutex_);
  auto it = await_expected(lock, h.request);  // a request_done may come first on its connection
  if (it == pending_.end() || it->second.failed) {
    ++counters_.frames_rejected;
    return {};
  }
  pending& p = it->second;
  p.connections.insert(connection);
  p.progress = clock::now();
  p.interrupted = {};
  if (h.kind == frame_kind::abort) return fail_locked(h.request, peer + " aborted the transfer: " + h.reason);
  if (h.kind == frame_kind::request_done) {
    if (h.token_count != p.target->token_count())
      return fail_locked(h.request, "request_done for " + std::to_string(h.token_count) + " tokens, expected " +
                                        std::to_string(p.target->token_count()), errc::bad_frame);
    p.done_seen = true;
    p.first_token = h.first_token;
    p.first_logprobs = h.first_logprobs;
    return maybe_complete_locked(h.request);
  }
  if (h.layer >= static_cast<uint32_t>(p.target->layers()) ||
      h.index != static_cast<uint32_t>(p.target->payload_count(static_cast<int>(h.layer))))
    return fail_locked(h.request, "layer_done for layer " + std::to_string(h.layer) + " does not match the transfer",
                       errc::bad_frame);
  return {};
}

void transfer_registry::connection_lost(uint64_t connection, const std::string& why, bool resumable) {
  std::lock_guard lock(mutex_);
  const auto now = clock::now();
  std::vector<uint64_t> lost;
  for (auto& [id, p] : pending_) {
    if (!p.connections.erase(connection) || p.failed) continue;
    if (!resumable) {
      lost.push_back(id);
    } else if (!is_interrupted(p)) {
      p.interrupted = now;
      p.interrupted_by = why;
      ++counters_.interrupted;
    }
  }
  for (uint64_t id : lost) fail_locked(id, why);
  expire_locked(now);
}

resume_answer transfer_registry::resume(uint64_t connection, uint64_t request) {
  std::lock_guard lock(mutex_);
  expire_locked(clock::now());
  resume_answer a;
  auto it = pending_.find(request);
  if (it == pending_.end() || it->second.failed) {
    const bool* completed = recent_.find(request);
    if (completed && *completed) a.kind = resume_answer::complete;
    else a.why = completed ? "the transfer ended here without completing (failed, cancelled or never expected)"
                           : "the receiver does not expect it (restarted?)";
    return a;
  }
  pending& p = it->second;
  p.connections.insert(connection);
  p.progress = clock::now();
  p.interrupted = {};
  ++counters_.resumed;
  a.kind = resume_answer::active;
  a.landed.assign((p.landed.size() + 63) / 64, 0);
  for (size_t i = 0; i < p.landed.size(); ++i)
    if (p.landed[i]) a.landed[i / 64] |= uint64_t{1} << (i % 64);
  return a;
}

bool transfer_registry::stalled(uint64_t connection, clock::duration limit) const {
  std::lock_guard lock(mutex_);
  const auto now = clock::now();
  for (const auto& [id, p] : pending_)
    if (!p.failed && p.connections.count(connection) && now - p.progress > limit) return true;
  return false;
}

void transfer_registry::expire() {
  std::lock_guard lock(mutex_);
  expire_locked(clock::now());
}

void transfer_registry::expire_locked(clock::time_point now) {
  std::vector<std::pair<uint64_t, std::string>> late;
  for (auto& [id, p] : pending_)
    if (!p.failed && is_interrupted(p) && now - p.interrupted > resume_window_)
      late.emplace_back(id, p.interrupted_by);
  for (auto& [id, why] : late)
    fail_locked(id, why + "; not resumed within " + std::to_string(resume_window_.count()) + " ms");
}

frame_header ack_frame(const receipt& r) {
  frame_header a;
  a.kind = frame_kind::ack;
  a.request = r.request;
  a.layer = r.acked_layers;
  a.index = static_cast<uint32_t>(r.kind == receipt::progress   ? ack_kind::progress
                                  : r.kind == receipt::complete ? ack_kind::complete
                                                                : ack_kind::failed);
  a.reason = r.why;
  return a;
}

void transfer_registry::count_copied(size_t bytes) {
  std::lock_guard lock(mutex_);
  counters_.copied_bytes += bytes;
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

receipt transfer_registry::progress_receipt(uint64_t request, pending& p) {
  uint32_t ready = p.acked;
  while (ready < p.layer_ready.size() && p.layer_ready[ready]) ++ready;
  if (ready == p.acked) return {};
  p.acked = ready;
  return {receipt::progress, request, ready, {}};
}

receipt transfer_registry::maybe_complete_locked(uint64_t request) {
  auto it = pending_.find(request);
  if (it == pending_.end()) return {};
  pending& p = it->second;
  if (!p.done_seen || !p.writing.empty() || p.layers_ready != p.target->layers()) return {};
  const int32_t first = p.first_token;
  auto first_logprobs = std::move(p.first_logprobs);
  const auto layers = static_cast<uint32_t>(p.target->layers());
  const auto first_payload = p.first_landed;
  pending_.erase(it);
  recent_.remember(request, true);
  transfer_event done{transfer_event::complete, request, -1, first, {}, first_payload};
  done.first_logprobs = std::move(first_logprobs);
  sink_(std::move(done));
  return {receipt::complete, request, layers, {}};
}

receipt transfer_registry::fail_locked(uint64_t request, const std::string& why, errc code) {
  auto it = pending_.find(request);
  if (it == pending_.end() || it->second.failed) return {};
  // A payload being written right now keeps the entry until its writer is done with it.
  if (it->second.writing.empty()) pending_.erase(it);
  else it->second.failed = true;
  recent_.remember(request, false);
  sink_(transfer_event{transfer_event::failed, request, -1, 0, why, {}, code});
  return {receipt::failed, request, 0, why};
}

}  // namespace prfaas::transport
