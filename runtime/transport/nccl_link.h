#pragma once
// The NCCL carrier of the KV data plane: GPU-resident payloads move with ncclSend/ncclRecv over
// NCCL's socket transport (NCCL_NET=Socket, InfiniBand off); the handshake, every frame header
// and all control ride one TCP connection of the same protocol as kv_sender's.  Built when CUDA
// and NCCL are found (PRFAAS_HAVE_NCCL).
//
//   receiver (decode node, GPU)                      sender (prefill node, GPU)
//   nccl_receiver rx(listen, sink, {secret}, dev);   nccl_sender tx(rx_endpoint, options, dev);
//   rx.expect(id, device_transfer);                  tx.send_layer(id, device_transfer, l);
//                                                    tx.send_done(id, tokens, first); tx.flush();
//
// Handshake, then the receiver makes an ncclUniqueId and sends it in an `ncclId` frame; both join
// a 2-rank communicator (sender rank 0).  For each payload the sender writes a `devicePayload`
// header on TCP, then ncclSend; the receiver reads the header, checks it with the same
// transfer_registry as the TCP receiver, and posts ncclRecv straight into the destination (or
// into a scratch buffer it then drops, to keep the pairing).  Payload pointers of the transfer
// views are device pointers.  One sender per receiver at a time.
//
// NCCL refuses two ranks on one GPU of one host; on a single-GPU machine, give the two processes
// different NCCL_HOSTID values so NCCL treats them as two hosts joined by its socket transport.

#include <atomic>
#include <map>
#include <mutex>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "runtime/common/endpoint.h"
#include "runtime/transport/carrier.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/link_options.h"
#include "runtime/transport/socket.h"
#include "runtime/transport/transfer.h"
#include "runtime/transport/transfer_registry.h"

namespace prfaas::transport {

// Number of usable CUDA devices; 0 on any CUDA error (no driver, no device).
int cuda_device_count();

// Sets NCCL's environment for the socket transport on loopback (NCCL_NET=Socket,
// NCCL_IB_DISABLE=1, NCCL_SOCKET_IFNAME=lo, no P2P/SHM) unless already set; `host_id` (if not
// empty) becomes NCCL_HOSTID.  Call before the first NCCL call of the process.
void configure_nccl_socket_env(const std::string& host_id);

// The carrier (carrier.h) over NCCL on CUDA device `device`: transfer views hold device pointers.
std::shared_ptr<carrier> make_nccl_carrier(int device);

// Acknowledgements come back on the control connection as on TCP (`ack` frames); the sender reads
// them in finish() (and progress_of() reports what it read).  Backpressure: once
// options.max_inflight_bytes are posted on the stream and not known sent, a post waits for the
// stream.  forget() and finish() synchronise the stream: afterwards no ncclSend reads the source.
// An NCCL link does not resume: a broken control connection fails its transfers.
class nccl_sender final : public carrier_link {
 public:
  nccl_sender(const endpoint& to, link_options options, int device);
  ~nccl_sender() override;
  nccl_sender(const nccl_sender&) = delete;
  nccl_sender& operator=(const nccl_sender&) = delete;

  void send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) override;
  using carrier_link::send_done;
  void send_done(uint64_t request, uint32_t tokens, int32_t first_token,
                 std::optional<token_logprobs> first_logprobs) override;
  void send_abort(uint64_t request, const std::string& reason) override;
  uint64_t finish(uint64_t request, clock::time_point deadline) override;
  void forget(uint64_t request) override;
  link_progress progress_of(uint64_t request) const override;
  bool broken() const override;
  bool idle() const override;
  int connection_count() const override { return 1; }
  link_stats stats() const override;
  uint64_t payload_bytes_sent() const override;
  void flush();  // every payload posted so far has been sent

 private:
  struct cuda_state;
  using record = transfer_outcome;
  void flush_locked();
  void check_locked(uint64_t request);
  void read_ack_locked(std::chrono::milliseconds timeout);  // one ack frame into records_
  void fail_locked(const std::string& why);

  endpoint peer_;
  link_options options_;
  socket_fd control_;
  std::unique_ptr<cuda_state> cuda_;
  mutable std::mutex mutex_;  // one poster at a time: NCCL calls on one communicator are ordered
  std::map<uint64_t, record> records_;
  std::string broken_;
  uint64_t payload_sent_ = 0, unsynced_ = 0, frames_ = 0;
};

class nccl_receiver final : public carrier_listener {
 public:
  using event = transfer_event;
  using event_sink = transfer_registry::event_sink;

  nccl_receiver(const endpoint& listen_at, event_sink sink, receiver_options options, int device);
  ~nccl_receiver();
  nccl_receiver(const nccl_receiver&) = delete;
  nccl_receiver& operator=(const nccl_receiver&) = delete;

  uint16_t port() const override { return port_; }
  void expect(uint64_t request, transfer_view& target) override { registry_.expect(request, target); }
  void cancel(uint64_t request) override { registry_.cancel(request); }
  receive_counters stats() const override { return registry_.stats(); }

 private:
  void serve();
  void serve_connection(socket_fd& s, uint64_t id);

  receiver_options options_;
  int device_;
  transfer_registry registry_;
  socket_fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> current_fd_{-1};
  std::thread thread_;
};

}  // namespace prfaas::transport
