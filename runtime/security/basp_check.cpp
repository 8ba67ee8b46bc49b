#include "runtime/security/basp_check.h"

#include <algorithm>

namespace prfaas::security {

namespace {

uint64_t big_endian(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

bool basp_check::check_header() {
  const uint8_t op = header_[0];
  const uint64_t len = big_endian(&header_[4], 4), data = big_endian(&header_[8], 8);
  const uint64_t source = big_endian(&header_[16], 8), dest = big_endian(&header_[24], 8);
  auto fail = [&](const std::string& what) {
    why_ = "BASP header " + std::to_string(frames_ + 1) + ": " + what;
    return false;
  };
  if (op > 6) return fail("unknown operation " + std::to_string(op));
  if (len > limits_.max_payload)
    return fail("declares a payload of " + std::to_string(len) + " bytes, over the bound of " +
                std::to_string(limits_.max_payload));
  const bool heartbeat = op == 6;
  if (heartbeat && len != 0) return fail("a heartbeat with a payload");
  if (!heartbeat && len == 0) return fail("operation " + std::to_string(op) + " without a payload");
  if (op == 0 && data == 0) return fail("a server handshake without operation data");
  if (op == 1 && (source != 0 || dest != 0)) return fail("a client handshake naming actors");
  if (op == 2 && dest == 0) return fail("a direct message to no actor");
  if (op == 3 && !limits_.allow_routed) return fail("a routed message (a source other than its connection's node)");
  return true;
}

bool basp_check::feed(const uint8_t* data, size_t n) {
  if (failed()) return false;
  while (n > 0) {
    if (payload_left_ > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
      if (in_handshake_) {
        handshake_.append(reinterpret_cast<const char*>(data),
                          std::min(take, handshake_bytes - std::min(handshake_bytes, handshake_.size())));
        if (payload_left_ == take) in_handshake_ = false, handshake_ready_ = true;
      }
      payload_left_ -= take;
      data += take;
      n -= take;
      continue;
    }
    const size_t take = std::min(header_bytes - have_, n);
    std::copy(data, data + take, header_.begin() + static_cast<long>(have_));
    have_ += take;
    data += take;
    n -= take;
    if (have_ < header_bytes) break;
    if (!check_header()) return false;
    payload_left_ = big_endian(&header_[4], 4);
    if (header_[0] <= 1 && !handshake_seen_) handshake_seen_ = in_handshake_ = true;
    have_ = 0;
    ++frames_;
    if (header_[0] == 2 || header_[0] == 3) ++messages_;
  }
  return true;
}

bool basp_check::take_handshake(std::string& payload) {
  if (!handshake_ready_) return false;
  handshake_ready_ = false;
  payload = std::move(handshake_);
  handshake_.clear();
  return true;
}

}  // namespace prfaas::security
