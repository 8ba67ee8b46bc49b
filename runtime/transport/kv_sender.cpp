#include "runtime/transport/kv_sender.h"

#include <cstring>
#include <random>

#include "runtime/common/errc.h"
#include "runtime/transport/frame_io.h"

namespace prfaas::transport {
namespace {

constexpr size_t kFrameOverhead = 128;  // table + header segment, for window accounting

// hello -> [challenge -> proof] -> accepted, on one fresh connection.
}  // namespace

kv_sender::kv_sender(const endpoint& to, link_options options, std::shared_ptr<pacer> shared_pacer)
    : peer_(to), options_(std::move(options)), pacer_(std::move(shared_pacer)) {
  PRFAAS_REQUIRE(options_.connections >= 1 && options_.connections <= 64, "connections per peer must be 1..64");
  PRFAAS_REQUIRE(options_.max_inflight_bytes > 0, "the in-flight window must be positive");
  if (!pacer_ && options_.pacing_gbps > 0) pacer_ = std::make_shared<pacer>(options_.pacing_gbps);
  const uint64_t link_id = random_link_id();  // one id for all of this link's connections
  for (int i = 0; i < options_.connections; ++i) {
    socket_fd s = connect_tcp(to, options_.connect_timeout);
    received_ += connect_handshake(s, options_, link_id, static_cast<size_t>(i), to);
    sockets_.push_back(std::move(s));
  }
  for (size_t i = 0; i < sockets_.size(); ++i) threads_.emplace_back([this, i] { run_connection(i); });
}

kv_sender::~kv_sender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  room_.notify_all();
  for (auto& s : sockets_) s.shutdown_both();  // unblocks a thread stuck in sendmsg
  for (auto& t : threads_) t.join();
}

void kv_sender::check() const {
  if (!broken_.empty()) throw failure(errc::transport_failed, broken_);
}

void kv_sender::fail(const std::string& why) {
  if (broken_.empty()) broken_ = "KV link to " + peer_.str() + " failed: " + why;
  queue_.clear();
  inflight_ = 0;
  work_.notify_all();
  room_.notify_all();
}

void kv_sender::post(frame_job job) {
  const uint64_t cost = job.payload.size() + kFrameOverhead;
  std::unique_lock lock(mutex_);
  // Backpressure: wait for room, but let a frame bigger than the window go when alone.
  room_.wait(lock, [&] {
    return !broken_.empty() || stopping_ || inflight_ == 0 || inflight_ + cost <= options_.max_inflight_bytes;
  });
  check();
  job.due = std::chrono::steady_clock::now() + options_.delay;
  inflight_ += cost;
  posted_ += cost;
  queue_.push_back(job);
  work_.notify_one();
}

void kv_sender::send_layer(uint64_t request, transfer_view& source, int layer) {
  send_payloads(request, source, layer, 0, source.payload_count(layer));
}

void kv_sender::send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) {
  frame_header h;
  h.kind = source.kind(layer) == payload_kind::block ? frame_kind::kv_block : frame_kind::linear_state;
  h.request = request;
  h.layer = static_cast<uint32_t>(layer);
  h.token_count = source.token_count();
  for (int i = first; i < end; ++i) {
    h.index = static_cast<uint32_t>(i);
    post({h, source.payload(layer, i), {}});
  }
}

void kv_sender::send_done(uint64_t request, uint32_t tokens, int32_t first_token) {
  frame_header h;
  h.kind = frame_kind::request_done;
  h.request = request;
  h.token_count = tokens;
  h.first_token = first_token;
  post({h, {}, {}});
}

void kv_sender::send_abort(uint64_t request, const std::string& reason) {
  frame_header h;
  h.kind = frame_kind::abort;
  h.request = request;
  h.reason = reason;
  post({h, {}, {}});
}

void kv_sender::flush() {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] { return !broken_.empty() || stopping_ || inflight_ == 0; });
  check();
}

void kv_sender::run_connection(size_t index) {
  frame_encoder enc;
  const socket_fd& s = sockets_[index];
  for (;;) {
    frame_job job;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
    }
    std::this_thread::sleep_until(job.due);  // emulated propagation delay; FIFO keeps it monotone
    try {
      enc.encode(job.header, job.payload);
      if (pacer_) pacer_->acquire(enc.wire_bytes());
      auto src = enc.iovecs();
      std::array<iovec, 3> iov{};
      std::copy(src.begin(), src.end(), iov.begin());
      const size_t bytes = enc.wire_bytes();
      write_all(s, std::span<iovec>(iov.data(), src.size()));
      std::lock_guard lock(mutex_);
      inflight_ -= std::min<uint64_t>(inflight_, job.payload.size() + kFrameOverhead);
      sent_ += bytes;
      payload_sent_ += job.payload.size();
      ++frames_;
      room_.notify_all();
    } catch (const failure& e) {
      std::lock_guard lock(mutex_);
      fail(e.what());
      return;
    }
  }
}

bool kv_sender::broken() const {
  std::lock_guard lock(mutex_);
  return !broken_.empty();
}

uint64_t kv_sender::payload_bytes_sent() const {
  std::lock_guard lock(mutex_);
  return payload_sent_;
}

link_stats kv_sender::stats() const {
  link_stats st;
  st.peer = peer_.str();
  st.connections = static_cast<int>(sockets_.size());
  st.capacity_gbps = options_.capacity_gbps;
  {
    std::lock_guard lock(mutex_);
    st.bytes_posted = posted_;
    st.bytes_sent = sent_;
    st.bytes_in_flight = inflight_;
    st.frames_sent = frames_;
    st.bytes_received = received_;
  }
  for (const auto& s : sockets_) st.tcp.push_back(read_tcp_info(s));
  return st;
}

}  // namespace prfaas::transport
