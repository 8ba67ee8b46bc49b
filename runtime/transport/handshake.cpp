#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "runtime/common/errc.h"
#include "runtime/transport/link_options.h"

#include <cstring>
#include <random>

#include "runtime/transport/frame_io.h"

namespace prfaas::transport {

std::vector<uint8_t> handshake_proof(const std::string& secret, const std::vector<uint8_t>& challenge,
                                     const std::string& name) {
  std::vector<uint8_t> msg(challenge);
  msg.insert(msg.end(), name.begin(), name.end());
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(), out.data(), &len))
    throw failure(errc::internal, "HMAC-SHA256 failed");
  out.resize(len);
  return out;
}

std::vector<uint8_t> random_challenge() {
  std::vector<uint8_t> c(32);
  if (RAND_bytes(c.data(), static_cast<int>(c.size())) != 1) throw failure(errc::internal, "RAND_bytes failed");
  return c;
}

uint64_t random_link_id() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Both sides prove the secret before a byte of KV moves: the receiver challenges the sender,
// and the sender's proof carries a challenge of its own, which the receiver answers (under
// another label, so neither proof can be reflected as the other) before it accepts.
handshake_result connect_handshake(const socket_fd& s, const link_options& o, uint64_t link_id, size_t index,
                                   const endpoint& peer) {
  if (o.encrypt && o.secret.empty())
    throw failure(errc::invalid_argument, "transport.encrypt needs the deployment's shared secret");
  handshake_result out;
  uint64_t& received = out.received;
  std::vector<uint8_t> challenge;
  frame_encoder enc;
  frame_header hello;
  hello.kind = frame_kind::hello;
  hello.reason = o.name;
  hello.layout = o.layout;
  hello.request = link_id;
  hello.index = static_cast<uint32_t>(index);
  if (o.encrypt) hello.token_count = kHelloEncrypt;
  write_frame(s, enc, hello);
  const std::string refused = "the receiver at " + peer.str() + " refused the connection (wrong or missing shared secret?)";
  std::vector<uint8_t> my_nonce;
  bool receiver_proved = false;
  for (;;) {
    received_header h;
    bool got = false;
    try {
      got = read_header(s, h);
    } catch (const failure&) {
      got = false;
    }
    if (!got) throw failure(errc::transport_failed, refused);
    received += h.table.table_bytes + h.table.header_words * 8 + h.payload_bytes();
    if (h.header.kind == frame_kind::accepted) {
      if (!o.secret.empty() && !receiver_proved)
        throw failure(errc::transport_failed, "the receiver at " + peer.str() +
                                                  " did not prove the shared secret: no KV is sent to it");
      if (o.encrypt) out.key = derive_payload_key(o.secret, challenge, my_nonce);
      return out;
    }
    if (h.header.kind == frame_kind::abort)
      throw failure(errc::transport_failed, "the receiver at " + peer.str() + " refused the connection: " + h.header.reason);
    if (h.header.kind == frame_kind::proof && !my_nonce.empty() && !receiver_proved) {
      const auto proof = read_small_payload(s, h, 64);
      if (!proofs_equal(proof, receiver_proof(o.secret, my_nonce, o.name)))
        throw failure(errc::transport_failed, "the receiver at " + peer.str() +
                                                  " failed to prove the shared secret: no KV is sent to it");
      receiver_proved = true;
      continue;
    }
    if (h.header.kind != frame_kind::challenge || !my_nonce.empty())
      throw failure(errc::bad_frame, "unexpected handshake frame from " + peer.str());
    const auto nonce = read_small_payload(s, h, 64);
    challenge = nonce;
    auto proof = handshake_proof(o.secret, nonce, o.name);
    my_nonce = random_challenge();
    proof.insert(proof.end(), my_nonce.begin(), my_nonce.end());
    std::vector<uint64_t> aligned((proof.size() + 7) / 8);
    std::memcpy(aligned.data(), proof.data(), proof.size());
    frame_header p;
    p.kind = frame_kind::proof;
    write_frame(s, enc, p, std::as_bytes(std::span(aligned)));
  }
}

std::vector<uint8_t> receiver_proof(const std::string& secret, const std::vector<uint8_t>& challenge,
                                    const std::string& sender_name) {
  return handshake_proof(secret, challenge, "kv-receiver\n" + sender_name);
}

bool proofs_equal(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace prfaas::transport
