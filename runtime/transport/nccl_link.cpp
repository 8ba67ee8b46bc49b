#include "runtime/transport/nccl_link.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

#include "runtime/common/errc.h"
#include "runtime/transport/frame_io.h"

namespace prfaas::transport {
namespace {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw failure(errc::transport_failed, std::string(what) + ": " + cudaGetErrorString(e));
}

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess)
    throw failure(errc::transport_failed, std::string(what) + ": " + ncclGetErrorString(r) + " (" + ncclGetLastError(nullptr) + ")");
}

constexpr size_t kMaxScratchBytes = size_t{256} << 20;  // drains of unwanted payloads

}  // namespace

int cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

void configure_nccl_socket_env(const std::string& host_id) {
  ::setenv("NCCL_NET", "Socket", 0);
  ::setenv("NCCL_IB_DISABLE", "1", 0);
  ::setenv("NCCL_SOCKET_IFNAME", "lo", 0);
  ::setenv("NCCL_SOCKET_FAMILY", "AF_INET", 0);
  ::setenv("NCCL_P2P_DISABLE", "1", 0);
  ::setenv("NCCL_SHM_DISABLE", "1", 0);
  if (!host_id.empty()) ::setenv("NCCL_HOSTID", host_id.c_str(), 1);
}

struct nccl_sender::cuda_state {
  int device = 0;
  cudaStream_t stream = nullptr;
  ncclComm_t comm = nullptr;
};

nccl_sender::nccl_sender(const endpoint& to, link_options options, int device)
    : peer_(to), options_(std::move(options)), control_(connect_tcp(to, options_.connect_timeout)),
      cuda_(std::make_unique<cuda_state>()) {
  connect_handshake(control_, options_, random_link_id(), 0, to);
  received_header h;
  if (!read_header(control_, h) || h.header.kind != frame_kind::nccl_id)
    throw failure(errc::transport_failed, "the receiver at " + to.str() + " sent no NCCL id");
  const auto id_bytes = read_small_payload(control_, h, sizeof(ncclUniqueId) + 8);
  if (id_bytes.size() < sizeof(ncclUniqueId)) throw failure(errc::bad_frame, "short NCCL id");
  ncclUniqueId id;
  std::memcpy(&id, id_bytes.data(), sizeof id);
  cuda_->device = device;
  cuda_check(cudaSetDevice(device), "cudaSetDevice");
  cuda_check(cudaStreamCreate(&cuda_->stream), "cudaStreamCreate");
  nccl_check(ncclCommInitRank(&cuda_->comm, 2, id, 0), "ncclCommInitRank (sender)");
}

nccl_sender::~nccl_sender() {
  if (cuda_->comm) {
    cudaStreamSynchronize(cuda_->stream);
    ncclCommDestroy(cuda_->comm);
  }
  if (cuda_->stream) cudaStreamDestroy(cuda_->stream);
}

void nccl_sender::fail_locked(const std::string& why) {
  if (broken_.empty()) broken_ = "NCCL link to " + peer_.str() + " failed: " + why;
  for (auto& [id, r] : records_) r.fail(broken_);
}

void nccl_sender::check_locked(uint64_t request) {
  if (!broken_.empty()) throw failure(errc::transport_failed, broken_);
  auto it = records_.find(request);
  if (it != records_.end() && it->second.state == record::failed) throw failure(errc::transport_failed, it->second.error);
}

void nccl_sender::flush_locked() {
  try {
    cuda_check(cudaStreamSynchronize(cuda_->stream), "cudaStreamSynchronize");
  } catch (const failure& e) {
    fail_locked(e.what());
    throw;
  }
  unsynced_ = 0;
}

void nccl_sender::send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) {
  std::lock_guard lock(mutex_);
  check_locked(request);
  PRFAAS_REQUIRE(layer >= 0 && layer < source.layers() && first >= 0 && first <= end && end <= source.payload_count(layer),
                 "payloads outside the transfer");
  if (records_.count(request) == 0 && records_.size() >= 4096)
    throw failure(errc::no_capacity, "NCCL link to " + peer_.str() + " carries 4096 transfers");
  auto& r = records_[request];
  frame_encoder enc;
  frame_header h;
  h.kind = frame_kind::device_payload;
  h.request = request;
  h.layer = static_cast<uint32_t>(layer);
  h.token_count = source.token_count();
  try {
    cuda_check(cudaSetDevice(cuda_->device), "cudaSetDevice");
    for (int i = first; i < end; ++i) {
      const auto p = source.payload(layer, i);
      // Backpressure: the stream holds at most the window of posted, unsent bytes.
      if (unsynced_ > 0 && unsynced_ + p.size() > options_.max_inflight_bytes) flush_locked();
      h.index = static_cast<uint32_t>(i);
      h.payload_bytes = p.size();
      write_frame(control_, enc, h);  // the header first: the receiver posts the matching ncclRecv
      nccl_check(ncclSend(p.data(), p.size(), ncclUint8, 1, cuda_->comm, cuda_->stream), "ncclSend");
      payload_sent_ += p.size();
      r.payload_sent += p.size();
      unsynced_ += p.size();
      ++frames_;
    }
  } catch (const failure& e) {
    fail_locked(e.what());
    throw;
  }
}

void nccl_sender::send_done(uint64_t request, uint32_t tokens, int32_t first_token,
                            std::optional<token_logprobs> first_logprobs) {
  std::lock_guard lock(mutex_);
  check_locked(request);
  frame_encoder enc;
  frame_header h;
  h.kind = frame_kind::request_done;
  h.request = request;
  h.token_count = tokens;
  h.first_token = first_token;
  h.first_logprobs = std::move(first_logprobs);
  try {
    write_frame(control_, enc, h);
  } catch (const failure& e) {
    fail_locked(e.what());
    throw;
  }
}

void nccl_sender::send_abort(uint64_t request, const std::string& reason) {
  forget(request);
  std::lock_guard lock(mutex_);
  if (!broken_.empty()) return;
  frame_encoder enc;
  frame_header h;
  h.kind = frame_kind::abort;
  h.request = request;
  h.reason = reason;
  try {
    write_frame(control_, enc, h);
  } catch (const failure& e) {
    fail_locked(e.what());
  }
}

void nccl_sender::read_ack_locked(std::chrono::milliseconds timeout) {
  set_receive_timeout(control_, timeout);
  received_header h;
  if (!read_header(control_, h)) throw failure(errc::transport_failed, "the receiver closed the link");
  if (h.header.kind != frame_kind::ack) throw failure(errc::bad_frame, std::string("unexpected ") + to_string(h.header.kind) + " frame");
  auto it = records_.find(h.header.request);
  if (it == records_.end()) return;
  auto& r = it->second;
  switch (static_cast<ack_kind>(h.header.index)) {
    case ack_kind::progress: r.acknowledged(h.header.layer); break;
    case ack_kind::complete: r.completed(h.header.layer); break;
    case ack_kind::failed:
      r.fail("KV receiver " + peer_.str() + " gave request " + std::to_string(h.header.request) + " up: " + h.header.reason);
      break;
  }
}

uint64_t nccl_sender::finish(uint64_t request, clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  std::string error;
  errc code = errc::transport_failed;
  try {
    flush_locked();
    for (;;) {
      auto it = records_.find(request);
      if (it == records_.end() || it->second.state == record::complete) break;
      if (it->second.state == record::failed) {
        error = it->second.error;
        break;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0) {
        code = errc::deadline_exceeded;
        error = "KV transfer of request " + std::to_string(request) + " to " + peer_.str() +
                " not confirmed by its deadline (" + std::to_string(it->second.acked_layers) + " layers acknowledged)";
        break;
      }
      try {
        read_ack_locked(std::max(left, std::chrono::milliseconds(1)));
      } catch (const failure& e) {
        if (clock::now() < deadline) throw;  // a timeout past the deadline is the deadline's
      }
    }
  } catch (const failure& e) {
    fail_locked(e.what());
    error = broken_;
  }
  const auto it = records_.find(request);
  const uint64_t sent = it == records_.end() ? 0 : it->second.payload_sent;
  records_.erase(request);
  if (!error.empty()) throw failure(code, error);
  return sent;
}

void nccl_sender::forget(uint64_t request) {
  std::lock_guard lock(mutex_);
  try {
    if (broken_.empty()) flush_locked();  // after it no ncclSend reads the source
  } catch (const failure&) {
    // A failed stream runs nothing more: the source is not read either way.
  }
  records_.erase(request);
}

link_progress nccl_sender::progress_of(uint64_t request) const {
  std::lock_guard lock(mutex_);
  auto it = records_.find(request);
  return it == records_.end() ? link_progress{} : it->second.progress();
}

bool nccl_sender::broken() const {
  std::lock_guard lock(mutex_);
  return !broken_.empty();
}

bool nccl_sender::idle() const {
  std::lock_guard lock(mutex_);
  return records_.empty();
}

uint64_t nccl_sender::payload_bytes_sent() const {
  std::lock_guard lock(mutex_);
  return payload_sent_;
}

link_stats nccl_sender::stats() const {
  link_stats st;
  st.peer = peer_.str();
  st.connections = 1;
  st.capacity_gbps = options_.capacity_gbps;
  std::lock_guard lock(mutex_);
  st.bytes_posted = st.bytes_sent = payload_sent_;
  st.bytes_in_flight = unsynced_;
  st.frames_sent = frames_;
  st.tcp.push_back(read_tcp_info(control_));
  return st;
}

void nccl_sender::flush() {
  std::lock_guard lock(mutex_);
  flush_locked();
}

nccl_receiver::nccl_receiver(const endpoint& listen_at, event_sink sink, receiver_options options, int device)
    : options_(std::move(options)), device_(device),
      registry_(std::move(sink), options_.max_pending, options_.resume_window, options_.expect_grace),
      listener_(listen_tcp(listen_at)) {
  port_ = local_port(listener_);
  thread_ = std::thread([this] { serve(); });
}

nccl_receiver::~nccl_receiver() {
  stopping_ = true;
  registry_.close();
  listener_.shutdown_both();
  if (const int fd = current_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  thread_.join();
}

void nccl_receiver::serve() {
  uint64_t next_id = 1;
  while (!stopping_) {
    socket_fd s = accept_tcp(listener_);
    if (!s) return;
    const uint64_t id = next_id++;
    current_fd_ = s.get();
    std::string why = "NCCL link closed";
    try {
      serve_connection(s, id);
    } catch (const failure& e) {
      why = std::string("NCCL link failed: ") + e.what();
    }
    current_fd_ = -1;
    registry_.connection_lost(id, why, /*resumable=*/false);  // NCCL links do not resume
  }
}

void nccl_receiver::serve_connection(socket_fd& s, uint64_t conn) {
  const auto peer = accept_handshake(s, options_.secret);
  registry_.count_connection(peer.has_value());
  if (!peer) return;  // NCCL links carry device payloads in the clear: transport.encrypt covers TCP links
  frame_encoder enc;
  frame_header ok;
  ok.kind = frame_kind::accepted;
  write_frame(s, enc, ok);
  // Receipts go back as TCP's receiver sends them (kv_receiver.cpp): the sender's finish() reads them.
  uint64_t last_refused = 0;
  auto acknowledge = [&](const receipt& r) {
    if (r.kind != receipt::none) write_frame(s, enc, ack_frame(r));
  };

  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  ncclUniqueId id;
  nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  std::vector<uint64_t> id_words((sizeof id + 7) / 8);
  std::memcpy(id_words.data(), &id, sizeof id);
  frame_header idf;
  idf.kind = frame_kind::nccl_id;
  write_frame(s, enc, idf, std::as_bytes(std::span(id_words)));

  cudaStream_t stream = nullptr;
  ncclComm_t comm = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  auto cleanup = [&] {
    if (comm) ncclCommDestroy(comm);
    if (stream) cudaStreamDestroy(stream);
    if (scratch) cudaFree(scratch);
  };
  try {
    cuda_check(cudaStreamCreate(&stream), "cudaStreamCreate");
    nccl_check(ncclCommInitRank(&comm, 2, id, 1), "ncclCommInitRank (receiver)");
    for (;;) {
      received_header h;
      if (!read_header(s, h)) break;
      const auto& f = h.header;
      if (f.kind != frame_kind::device_payload) {
        if (f.kind != frame_kind::request_done && f.kind != frame_kind::abort && f.kind != frame_kind::layer_done)
          throw failure(errc::bad_frame, std::string("unexpected ") + to_string(f.kind) + " frame on an NCCL link");
        acknowledge(registry_.control(conn, f, peer->name));
        continue;
      }
      if (f.payload_bytes == 0 || f.payload_bytes > kMaxScratchBytes)
        throw failure(errc::bad_frame, "device payload of " + std::to_string(f.payload_bytes) + " bytes");
      const auto land = registry_.begin_payload(conn, f, f.payload_bytes, peer->name);
      const auto dst = land.dst;
      // The sender hears once that nobody expects the request, and stops (as over TCP).
      if (land.unknown && f.request != last_refused) {
        last_refused = f.request;
        acknowledge({receipt::failed, f.request, 0, "the receiver does not expect this request"});
      }
      void* into = dst.data();
      if (dst.empty()) {
        // Nobody wants it, but the sender's ncclSend must still be matched.
        if (scratch_bytes < f.payload_bytes) {
          if (scratch) cudaFree(scratch);
          cuda_check(cudaMalloc(&scratch, f.payload_bytes), "cudaMalloc (scratch)");
          scratch_bytes = f.payload_bytes;
        }
        into = scratch;
      }
      std::string error;
      try {
        nccl_check(ncclRecv(into, f.payload_bytes, ncclUint8, 0, comm, stream), "ncclRecv");
        cuda_check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
      } catch (const failure& e) {
        error = e.what();
      }
      if (dst.empty()) registry_.count_dropped(f.payload_bytes);
      else acknowledge(registry_.end_payload(conn, f, f.payload_bytes, error));
      if (!error.empty()) throw failure(errc::transport_failed, error);
    }
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
}

namespace {

class nccl_carrier final : public carrier {
 public:
  explicit nccl_carrier(int device) : device_(device) {}
  const char* name() const override { return "nccl"; }
  std::unique_ptr<carrier_listener> listen(const endpoint& at, event_sink sink, const receiver_options& options) override {
    return std::make_unique<nccl_receiver>(at, std::move(sink), options, device_);
  }
  std::shared_ptr<carrier_link> connect(const endpoint& to, const link_options& options, std::shared_ptr<pacer>) override {
    return std::make_shared<nccl_sender>(to, options, device_);
  }

 private:
  int device_;
};

}  // namespace

std::shared_ptr<carrier> make_nccl_carrier(int device) { return std::make_shared<nccl_carrier>(device); }

}  // namespace prfaas::transport
