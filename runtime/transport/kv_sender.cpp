#include "runtime/transport/kv_sender.h"

#include <array>

#include "runtime/common/errc.h"

namespace prfaas::transport {

kv_sender::kv_sender(const endpoint& to, const std::string& self_name,
                     std::chrono::milliseconds timeout)
    : peer_(to), socket_(connect_tcp(to, timeout)) {
  frame_header hello;
  hello.kind = frame_kind::hello;
  hello.reason = self_name;
  send(hello);
}

void kv_sender::send_layer(uint64_t request, kv::sequence_kv& kv, int layer) {
  const bool full = kv.config().kind(layer) == model::layer_kind::full;
  frame_header h;
  h.kind = full ? frame_kind::kv_block : frame_kind::linear_state;
  h.request = request;
  h.layer = static_cast<uint32_t>(layer);
  h.token_count = static_cast<uint32_t>(kv.tokens());
  const int n = kv.payload_count(layer);
  for (int i = 0; i < n; ++i) {
    h.index = static_cast<uint32_t>(i);
    auto payload = kv.payload(layer, i);
    send(h, payload);
    payload_bytes_ += payload.size();
  }
  h.kind = frame_kind::layer_done;
  h.index = static_cast<uint32_t>(n);
  send(h);
}

void kv_sender::send_done(uint64_t request, int tokens, int32_t first_token) {
  frame_header h;
  h.kind = frame_kind::request_done;
  h.request = request;
  h.token_count = static_cast<uint32_t>(tokens);
  h.first_token = first_token;
  send(h);
}

void kv_sender::send_abort(uint64_t request, const std::string& reason) {
  frame_header h;
  h.kind = frame_kind::abort;
  h.request = request;
  h.reason = reason;
  send(h);
}

void kv_sender::send(const frame_header& h, std::span<const std::byte> payload) {
  if (broken_) throw failure(errc::transport_failed, "KV connection to " + peer_.str() + " is broken");
  encoder_.encode(h, payload);
  auto src = encoder_.iovecs();
  std::array<iovec, 3> iov{};
  std::copy(src.begin(), src.end(), iov.begin());
  try {
    write_all(socket_, std::span<iovec>(iov.data(), src.size()));
  } catch (const failure& e) {
    broken_ = true;
    throw failure(errc::transport_failed, "KV send to " + peer_.str() + " failed: " + e.what());
  }
}

}  // namespace prfaas::transport
