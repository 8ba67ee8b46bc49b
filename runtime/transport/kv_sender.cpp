#include "runtime/transport/kv_sender.h"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "runtime/common/errc.h"
#include "runtime/transport/frame_io.h"

namespace prfaas::transport {
namespace {

constexpr size_t kFrameOverhead = 128;  // table + header segment, for window accounting
constexpr size_t kBatchBytes = 1 << 20;  // payload one writer takes at once (kv_sender::run_writer)
constexpr size_t kMaxBatch = 16;
constexpr size_t kMaxResumeBitmapBytes = 1 << 20;

size_t cost_of(std::span<const std::byte> payload) { return payload.size() + kFrameOverhead; }

}  // namespace

kv_sender::kv_sender(const endpoint& to, link_options options, std::shared_ptr<pacer> shared_pacer)
    : peer_(to), options_(std::move(options)), pacer_(std::move(shared_pacer)), link_id_(random_link_id()) {
  PRFAAS_REQUIRE(options_.connections >= 1 && options_.connections <= 64, "connections per peer must be 1..64");
  PRFAAS_REQUIRE(options_.max_inflight_bytes > 0, "the in-flight window must be positive");
  if (!pacer_ && options_.pacing_gbps > 0) pacer_ = std::make_shared<pacer>(options_.pacing_gbps);
  auto fresh = connect_all();
  std::lock_guard lock(mutex_);
  conns_ = std::move(fresh);
  start_threads();
  keeper_thread_ = std::thread([this] { keep_link(); });
}

kv_sender::~kv_sender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& c : conns_) c.socket.shutdown_both();  // unblocks a thread stuck in sendmsg
  }
  work_.notify_all();
  room_.notify_all();
  keeper_.notify_all();
  keeper_thread_.join();
  for (auto& c : conns_) {
    c.socket.shutdown_both();
    if (c.writer.joinable()) c.writer.join();
    if (c.reader.joinable()) c.reader.join();
  }
}

std::vector<kv_sender::connection> kv_sender::connect_all() {
  std::vector<connection> out;
  uint64_t received = 0;
  for (int i = 0; i < options_.connections; ++i) {
    connection c;
    c.socket = connect_tcp(peer_, options_.connect_timeout);
    // A receiver that accepted but does not answer (stopped) is not waited for forever.
    set_receive_timeout(c.socket, options_.receive_timeout);
    if (options_.kernel_pacing_gbps > 0)
      set_max_pacing_rate(c.socket, static_cast<uint64_t>(options_.kernel_pacing_gbps * 1e9 / 8 / options_.connections));
    const auto hs = connect_handshake(c.socket, options_, link_id_, static_cast<size_t>(i), peer_);
    received += hs.received;
    if (hs.key) c.cipher = std::make_shared<payload_cipher>(*hs.key);
    out.push_back(std::move(c));
  }
  std::lock_guard lock(mutex_);
  received_ += received;
  return out;
}

void kv_sender::start_threads() {
  for (size_t i = 0; i < conns_.size(); ++i) {
    conns_[i].writer = std::thread([this, i, g = generation_] { run_writer(i, g); });
    conns_[i].reader = std::thread([this, i, g = generation_] { run_reader(i, g); });
  }
}

void kv_sender::check_locked() const {
  if (!broken_.empty()) throw failure(errc::transport_failed, broken_);
}

kv_sender::record& kv_sender::record_for(uint64_t request, transfer_view& source) {
  auto it = records_.find(request);
  if (it != records_.end()) {
    if (!it->second.source) it->second.source = &source;
    return it->second;
  }
  if (records_.size() >= 4096) throw failure(errc::no_capacity, "KV link to " + peer_.str() + " carries 4096 transfers");
  record r;
  r.source = &source;
  payload_numbering n(source);
  r.offset = std::move(n.offset);
  r.posted.assign(n.total, false);
  return records_.emplace(request, std::move(r)).first->second;
}

void kv_sender::post(frame_job job, std::unique_lock<std::mutex>& lock) {
  const uint64_t cost = cost_of(job.payload);
  // Backpressure: wait for room, but let a frame bigger than the window go when alone.
  room_.wait(lock, [&] {
    return !broken_.empty() || stopping_ || inflight_ == 0 || inflight_ + cost <= options_.max_inflight_bytes;
  });
  check_locked();
  job.due = clock::now() + options_.delay;
  inflight_ += cost;
  posted_ += cost;
  queue_.push_back(job);
  work_.notify_one();
}

void kv_sender::send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) {
  frame_header h;
  h.kind = source.kind(layer) == payload_kind::block ? frame_kind::kv_block : frame_kind::linear_state;
  h.request = request;
  h.layer = static_cast<uint32_t>(layer);
  h.token_count = source.token_count();
  std::unique_lock lock(mutex_);
  check_locked();
  for (int i = first; i < end; ++i) {
    record& r = record_for(request, source);
    // The receiver gave it up (cancelled, or a bad frame): stop computing for it.
    if (r.state == record::failed) throw failure(errc::transport_failed, r.error);
    const size_t bit = r.offset[layer] + static_cast<size_t>(i);
    PRFAAS_REQUIRE(i >= 0 && i < source.payload_count(layer) && bit < r.posted.size(),
                   "payload " + std::to_string(i) + " of layer " + std::to_string(layer) + " is outside the transfer");
    r.posted[bit] = true;
    h.index = static_cast<uint32_t>(i);
    post({h, source.payload(layer, i), {}}, lock);
  }
}

void kv_sender::send_done(uint64_t request, uint32_t tokens, int32_t first_token,
                          std::optional<token_logprobs> first_logprobs) {
  frame_header h;
  h.kind = frame_kind::request_done;
  h.request = request;
  h.token_count = tokens;
  h.first_token = first_token;
  h.first_logprobs = std::move(first_logprobs);
  std::unique_lock lock(mutex_);
  check_locked();
  auto it = records_.find(request);
  if (it != records_.end()) {
    if (it->second.state == record::failed) throw failure(errc::transport_failed, it->second.error);
    it->second.done_posted = true;
    it->second.done = h;
  }
  post({h, {}, {}}, lock);
}

void kv_sender::send_abort(uint64_t request, const std::string& reason) {
  forget(request);
  frame_header h;
  h.kind = frame_kind::abort;
  h.request = request;
  h.reason = reason;
  std::unique_lock lock(mutex_);
  post({h, {}, {}}, lock);
}

void kv_sender::forget(uint64_t request) {
  std::unique_lock lock(mutex_);
  std::erase_if(queue_, [&](const frame_job& j) {
    if (j.header.request != request || j.header.kind == frame_kind::abort) return false;
    inflight_ -= std::min<uint64_t>(inflight_, cost_of(j.payload));
    return true;
  });
  room_.notify_all();
  room_.wait(lock, [&] {
    auto it = records_.find(request);
    return it == records_.end() || it->second.writing == 0;
  });
  records_.erase(request);
}

uint64_t kv_sender::finish(uint64_t request, clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  auto state_of = [&] {
    auto it = records_.find(request);
    return it == records_.end() ? record::complete : it->second.state;
  };
  const bool ended = room_.wait_until(lock, deadline, [&] { return stopping_ || state_of() != record::active; });
  std::string error;
  if (!ended) {
    auto it = records_.find(request);
    error = "KV transfer of request " + std::to_string(request) + " to " + peer_.str() +
            " not confirmed by its deadline (" + std::to_string(it->second.acked_layers) + " layers acknowledged)";
  } else if (state_of() == record::failed) {
    error = records_.find(request)->second.error;
  } else if (stopping_ && state_of() != record::complete) {
    error = "KV link to " + peer_.str() + " closed";
  }
  const auto it = records_.find(request);
  const uint64_t sent = it == records_.end() ? 0 : it->second.payload_sent;
  lock.unlock();
  forget(request);  // frames re-sent after a resume may still be queued or on their way
  if (!error.empty()) throw failure(ended ? errc::transport_failed : errc::deadline_exceeded, error);
  return sent;
}

void kv_sender::flush() {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] { return !broken_.empty() || stopping_ || inflight_ == 0; });
  check_locked();
}

void kv_sender::run_writer(size_t index, uint64_t generation) {
  frame_encoder enc;
  const socket_fd* s = nullptr;
  std::shared_ptr<payload_cipher> cipher;
  std::vector<uint64_t> sealed;  // encrypted payloads: the one copy encryption costs
  {
    std::lock_guard lock(mutex_);
    // A writer that starts after the keeper took its generation's connections away has nothing
    // to write on.
    if (generation_ != generation || index >= conns_.size()) return;
    s = &conns_[index].socket;  // stays put when the keeper moves the vector away
    cipher = conns_[index].cipher;
  }
  auto current = [&] { return !stopping_ && generation_ == generation && state_ == link_state::up; };
  // `payload_bytes`: of the job's payload, what the kernel took (all of it, or part of it when
  // the connection broke mid-frame: those bytes count as sent, and will be sent again).
  auto release = [&](const frame_job& job, bool whole, size_t payload_bytes) {
    payload_sent_ += payload_bytes;
    auto it = records_.find(job.header.request);
    if (it == records_.end() || job.header.kind == frame_kind::abort) return;
    --it->second.writing;
    it->second.payload_sent += payload_bytes;
    if (whole && job.header.kind == frame_kind::request_done) it->second.written_all = clock::now();
  };
  // Frames go out in batches: a writer takes up to kBatchBytes of payload (or kMaxBatch frames,
  // and no more than its share of the queue), and writes them with one sendmsg.  Small
  // frames then cost one lock and one system call per batch, not per frame; sealed payloads
  // (encryption) go one by one, each in the connection's one sealing buffer.
  std::vector<frame_job> batch;
  std::vector<frame_encoder> encs(kMaxBatch);
  std::vector<iovec> iov;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return !current() || !queue_.empty(); });
      if (!current()) return;
      // At most its share of what waits: the connections stay evenly loaded (each may be paced).
      const size_t share = std::min(kMaxBatch, (queue_.size() + conns_.size() - 1) / conns_.size());
      size_t payload = 0;
      do {
        frame_job job = queue_.front();
        queue_.pop_front();
        if (auto it = records_.find(job.header.request); it != records_.end() && job.header.kind != frame_kind::abort)
          ++it->second.writing;
        payload += job.payload.size();
        batch.push_back(std::move(job));
      } while (!cipher && batch.size() < share && payload < kBatchBytes && !queue_.empty() &&
               queue_.front().due <= batch.back().due);
    }
    std::this_thread::sleep_until(batch.back().due);  // emulated propagation delay; FIFO keeps it monotone
    // An emulated cut holds every frame until the link is restored (or this generation ends).
    bool stop = false;
    while (pacer_ && pacer_->is_cut() && !stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lock(mutex_);
      stop = !current();
    }
    auto is_payload = [](const frame_job& job) {
      return !job.payload.empty() &&
             (job.header.kind == frame_kind::kv_block || job.header.kind == frame_kind::linear_state);
    };
    // Frames the fault point loses on the way: counted as sent, never arrive.
    if (options_.faults) {
      std::lock_guard lock(mutex_);
      batch.erase(std::remove_if(batch.begin(), batch.end(),
                                 [&](const frame_job& job) {
                                   if (!is_payload(job) || !options_.faults->fire(fault_point::drop_frame)) return false;
                                   release(job, true, job.payload.size());
                                   inflight_ -= std::min<uint64_t>(inflight_, cost_of(job.payload));
                                   room_.notify_all();
                                   return true;
                                 }),
                  batch.end());
      if (batch.empty()) continue;
    }
    size_t written = 0;
    try {
      if (stop) throw failure(errc::transport_failed, "the link was re-established");
      if (options_.faults && options_.faults->fire(fault_point::reset_link))
        throw failure(errc::transport_failed, "connection reset (fault point reset_link)");
      iov.clear();
      size_t wire = 0;
      for (size_t i = 0; i < batch.size(); ++i) {
        auto& job = batch[i];
        if (cipher && is_payload(job)) {
          sealed.resize(job.payload.size() / 8);
          const auto out = std::as_writable_bytes(std::span(sealed));
          job.header.tag = cipher->seal(job.header, job.payload, out);
          job.header.has_tag = true;
          encs[i].encode(job.header, out);
        } else {
          encs[i].encode(job.header, job.payload);
        }
        wire += encs[i].wire_bytes();
        for (const auto& v : encs[i].iovecs()) iov.push_back(v);
      }
      if (pacer_) pacer_->acquire(wire);
      write_all(*s, std::span<iovec>(iov), &written);
      std::lock_guard lock(mutex_);
      for (const auto& job : batch) {
        release(job, true, job.payload.size());
        inflight_ -= std::min<uint64_t>(inflight_, cost_of(job.payload));
        if (cipher && is_payload(job)) copied_ += job.payload.size();  // sealed into `sealed`, not sent in place
        ++frames_;
      }
      sent_ += written;
      room_.notify_all();
    } catch (const failure& e) {
      {
        // Frames the kernel took whole were sent; the one it took part of, and those after it,
        // go again after the resume.
        std::lock_guard lock(mutex_);
        size_t left = written;
        for (size_t i = 0; i < batch.size(); ++i) {
          const auto& job = batch[i];
          const size_t frame_bytes = encs[i].wire_bytes(), header_bytes = frame_bytes - job.payload.size();
          if (left >= frame_bytes) {
            left -= frame_bytes;
            release(job, true, job.payload.size());
            inflight_ -= std::min<uint64_t>(inflight_, cost_of(job.payload));
            ++frames_;
          } else {
            release(job, false, left > header_bytes ? left - header_bytes : 0);
            left = 0;
          }
        }
        sent_ += written;
        if (e.code() == errc::internal) ++source_faults_;
        room_.notify_all();
      }
      interrupt(generation, e.what());
      return;
    }
  }
}

void kv_sender::run_reader(size_t index, uint64_t generation) {
  const socket_fd* s = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (generation_ != generation || index >= conns_.size()) return;  // as for the writer
    s = &conns_[index].socket;
  }
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || generation_ != generation || state_ != link_state::up) return;
    }
    if (!wait_readable(*s, std::chrono::milliseconds(200))) continue;
    try {
      received_header h;
      if (!read_header(*s, h)) throw failure(errc::transport_failed, "the receiver closed the connection");
      if (h.header.kind != frame_kind::ack || h.payload_bytes() != 0)
        throw failure(errc::bad_frame, std::string("unexpected ") + to_string(h.header.kind) + " frame from the receiver");
      on_ack(h.header);
    } catch (const failure& e) {
      interrupt(generation, e.what());
      return;
    }
  }
}

void kv_sender::on_ack(const frame_header& h) {
  std::lock_guard lock(mutex_);
  auto it = records_.find(h.request);
  if (it == records_.end()) return;
  record& r = it->second;
  switch (static_cast<ack_kind>(h.index)) {
    case ack_kind::progress: r.acknowledged(h.layer); break;
    case ack_kind::complete: r.completed(h.layer); break;
    case ack_kind::failed:
      r.fail("the receiver at " + peer_.str() + " failed request " + std::to_string(h.request) + ": " + h.reason);
      break;
  }
  room_.notify_all();
}

kv_sender::progress kv_sender::progress_of(uint64_t request) const {
  std::lock_guard lock(mutex_);
  auto it = records_.find(request);
  return it == records_.end() ? progress{} : it->second.progress();
}

void kv_sender::break_connections(const std::string& why) {
  uint64_t g;
  {
    std::lock_guard lock(mutex_);
    g = generation_;
  }
  interrupt(g, why);
}

void kv_sender::break_connection(int index) {
  std::lock_guard lock(mutex_);
  if (index >= 0 && static_cast<size_t>(index) < conns_.size()) conns_[static_cast<size_t>(index)].socket.shutdown_both();
}

void kv_sender::interrupt(uint64_t generation, const std::string& why) {
  std::lock_guard lock(mutex_);
  if (stopping_ || generation != generation_ || state_ != link_state::up) return;
  state_ = link_state::interrupted;
  interrupted_at_ = clock::now();
  interrupted_by_ = why;
  spdlog::warn("KV link to {} interrupted ({}); resuming its {} transfers", peer_.str(), why, records_.size());
  for (auto& c : conns_) c.socket.shutdown_both();
  work_.notify_all();
  room_.notify_all();
  keeper_.notify_all();
}

void kv_sender::keep_link() {
  std::unique_lock lock(mutex_);
  for (;;) {
    keeper_.wait_for(lock, std::chrono::milliseconds(250),
                     [&] { return stopping_ || state_ == link_state::interrupted; });
    if (stopping_) return;
    if (state_ == link_state::up) {
      // A transfer written to the end but never confirmed: its frames or its ack were lost on
      // the way (a peer that hangs, a dropped frame).  Re-establishing the link finds out.
      const auto now = clock::now();
      for (const auto& [id, r] : records_)
        if (r.state == record::active && r.written_all != clock::time_point{} &&
            now - r.written_all > options_.receive_timeout) {
          const uint64_t g = generation_;
          lock.unlock();
          interrupt(g, "request " + std::to_string(id) + " not confirmed " +
                           std::to_string(options_.receive_timeout.count()) + " ms after its last frame");
          lock.lock();
          break;
        }
      continue;
    }
    if (state_ != link_state::interrupted) continue;  // broken: nothing left to do

    // Join the broken connections' threads (their sockets are shut down), then reconnect.
    auto old = std::move(conns_);
    conns_.clear();
    std::string last = interrupted_by_;
    lock.unlock();
    for (auto& c : old) {
      c.socket.shutdown_both();
      if (c.writer.joinable()) c.writer.join();
      if (c.reader.joinable()) c.reader.join();
    }
    old.clear();
    auto backoff = std::chrono::milliseconds(50);
    for (;;) {
      try {
        if (pacer_ && pacer_->is_cut()) throw failure(errc::unreachable, "the link is cut");
        auto fresh = connect_all();
        std::vector<uint64_t> active;
        {
          std::lock_guard l(mutex_);
          for (const auto& [id, r] : records_)
            if (r.state == record::active) active.push_back(id);
        }
        auto landed = ask_landed(fresh.front(), active);
        lock.lock();
        if (stopping_) {
          conns_ = std::move(fresh);  // the destructor joins nothing of these: no threads yet
          return;
        }
        install(std::move(fresh), landed);
        break;
      } catch (const failure& e) {
        last = e.what();
      }
      lock.lock();
      if (stopping_) return;
      if (clock::now() + backoff - interrupted_at_ > options_.resume_timeout) {
        give_up(last);
        break;
      }
      // Across an emulated cut, look often: the link is back the moment it is restored.
      const bool cut = pacer_ && pacer_->is_cut();
      keeper_.wait_for(lock, cut ? std::chrono::milliseconds(20) : backoff, [&] { return stopping_; });
      if (stopping_) return;
      lock.unlock();
      if (!cut) backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
}

kv_sender::landed_map kv_sender::ask_landed(const connection& c, const std::vector<uint64_t>& requests) {
  // One question at a time on the fresh connection: nothing else is on it yet.
  landed_map out;
  frame_encoder enc;
  for (uint64_t id : requests) {
    frame_header q;
    q.kind = frame_kind::resume;
    q.request = id;
    write_frame(c.socket, enc, q);
    received_header a;
    if (!read_header(c.socket, a)) throw failure(errc::transport_failed, "the receiver closed the connection");
    if (a.header.kind != frame_kind::resume_state || a.header.request != id)
      throw failure(errc::bad_frame, "the receiver answered a resume with " + std::string(to_string(a.header.kind)));
    landed_answer& ans = out[id];
    ans.kind = static_cast<resume_kind>(a.header.index);
    ans.why = a.header.reason;
    if (a.payload_bytes() > 0) {
      const auto bytes = read_small_payload(c.socket, a, kMaxResumeBitmapBytes);
      ans.bits.resize(bytes.size() / 8);
      std::memcpy(ans.bits.data(), bytes.data(), ans.bits.size() * 8);
    }
  }
  return out;
}

void kv_sender::install(std::vector<connection> fresh, const landed_map& landed) {
  conns_ = std::move(fresh);
  ++generation_;
  // Rebuild the queue from the records: every payload posted and not landed, then the done
  // frame; aborts still to go are kept.
  std::deque<frame_job> old;
  old.swap(queue_);
  inflight_ = 0;
  for (auto& j : old)
    if (j.header.kind == frame_kind::abort) {
      queue_.push_back(j);
      inflight_ += cost_of(j.payload);
    }
  const auto now = clock::now();
  for (auto& [id, r] : records_) {
    if (r.state != record::active) continue;
    const landed_answer* ans = nullptr;
    if (auto it = landed.find(id); it != landed.end()) ans = &it->second;  // else: begun after the question
    if (ans && ans->kind == resume_kind::complete) {
      r.state = record::complete;
      continue;
    }
    if (ans && ans->kind != resume_kind::active) {
      r.fail("the receiver at " + peer_.str() + " cannot resume request " + std::to_string(id) + ": " + ans->why);
      continue;
    }
    auto has = [&](size_t bit) {
      return ans && bit / 64 < ans->bits.size() && ((ans->bits[bit / 64] >> (bit % 64)) & 1);
    };
    r.written_all = {};
    for (int l = 0; r.source && l < r.source->layers(); ++l) {
      frame_header h;
      h.kind = r.source->kind(l) == payload_kind::block ? frame_kind::kv_block : frame_kind::linear_state;
      h.request = id;
      h.layer = static_cast<uint32_t>(l);
      h.token_count = r.source->token_count();
      for (int i = 0; i < r.source->payload_count(l); ++i) {
        const size_t bit = r.offset[l] + static_cast<size_t>(i);
        if (!r.posted[bit] || has(bit)) continue;
        h.index = static_cast<uint32_t>(i);
        const auto payload = r.source->payload(l, i);
        queue_.push_back({h, payload, now});
        inflight_ += cost_of(payload);
      }
    }
    if (r.done_posted) {
      queue_.push_back({r.done, {}, now});
      inflight_ += kFrameOverhead;
    }
  }
  state_ = link_state::up;
  ++resumes_;
  spdlog::info("KV link to {} re-established after {:.0f} ms: {} frames to send again", peer_.str(),
               std::chrono::duration<double, std::milli>(now - interrupted_at_).count(), queue_.size());
  start_threads();
  work_.notify_all();
  room_.notify_all();
}

void kv_sender::give_up(const std::string& why) {
  state_ = link_state::broken;
  broken_ = "KV link to " + peer_.str() + " failed: " + why + " (not re-established within " +
            std::to_string(options_.resume_timeout.count()) + " ms)";
  spdlog::error("{}", broken_);
  for (auto& [id, r] : records_) r.fail(broken_);
  queue_.clear();
  inflight_ = 0;
  work_.notify_all();
  room_.notify_all();
}

bool kv_sender::broken() const {
  std::lock_guard lock(mutex_);
  return !broken_.empty();
}

uint64_t kv_sender::payload_bytes_sent() const {
  std::lock_guard lock(mutex_);
  return payload_sent_;
}

uint64_t kv_sender::resumes() const {
  std::lock_guard lock(mutex_);
  return resumes_;
}

bool kv_sender::idle() const {
  std::lock_guard lock(mutex_);
  return records_.empty() && queue_.empty();
}

int kv_sender::connection_count() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(conns_.size());
}

link_stats kv_sender::stats() const {
  link_stats st;
  st.peer = peer_.str();
  st.capacity_gbps = options_.capacity_gbps;
  std::lock_guard lock(mutex_);
  st.connections = static_cast<int>(conns_.size());
  st.bytes_posted = posted_;
  st.bytes_sent = sent_;
  st.bytes_in_flight = inflight_;
  st.frames_sent = frames_;
  st.copied_bytes = copied_;
  st.source_faults = source_faults_;
  st.bytes_received = received_;
  st.resumes = resumes_;
  for (const auto& c : conns_) st.tcp.push_back(read_tcp_info(c.socket));
  return st;
}

}  // namespace prfaas::transport
