#include "runtime/transport/payload_cipher.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <limits>

#include "runtime/common/errc.h"

namespace prfaas::transport {

payload_key derive_payload_key(const std::string& secret, const std::vector<uint8_t>& receiver_challenge,
                               const std::vector<uint8_t>& sender_nonce) {
  static const std::string label = "prfaas kv payload key v1";
  std::vector<uint8_t> msg(label.begin(), label.end());
  msg.insert(msg.end(), receiver_challenge.begin(), receiver_challenge.end());
  msg.insert(msg.end(), sender_nonce.begin(), sender_nonce.end());
  payload_key key{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(), key.data(), &len) ||
      len != key.size())
    throw failure(errc::internal, "HMAC-SHA256 failed");
  return key;
}

struct payload_cipher::impl {
  payload_key key;
  uint64_t sealed = 0, opened = 0;  // frames numbered per direction of use
  EVP_CIPHER_CTX* ctx = nullptr;
};

namespace {

// What binds a payload to its place: kind, request, layer, index.
std::array<uint8_t, 18> aad_of(const frame_header& h) {
  std::array<uint8_t, 18> a{};
  const uint16_t kind = static_cast<uint16_t>(h.kind);
  std::memcpy(a.data(), &kind, 2);
  std::memcpy(a.data() + 2, &h.request, 8);
  std::memcpy(a.data() + 10, &h.layer, 4);
  std::memcpy(a.data() + 14, &h.index, 4);
  return a;
}

std::array<uint8_t, 12> nonce_of(uint64_t n) {
  std::array<uint8_t, 12> iv{};
  std::memcpy(iv.data() + 4, &n, 8);
  return iv;
}

void check_size(size_t n) {
  if (n > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw failure(errc::bad_frame, "payload too large to encrypt in one frame");
}

}  // namespace

payload_cipher::payload_cipher(const payload_key& key) : p_(std::make_unique<impl>()) {
  p_->key = key;
  p_->ctx = EVP_CIPHER_CTX_new();
  if (!p_->ctx) throw failure(errc::internal, "EVP_CIPHER_CTX_new failed");
}

payload_cipher::~payload_cipher() { EVP_CIPHER_CTX_free(p_->ctx); }

payload_tag payload_cipher::seal(const frame_header& h, std::span<const std::byte> in, std::span<std::byte> out) {
  PRFAAS_ASSERT(out.size() >= in.size());
  check_size(in.size());
  const auto iv = nonce_of(p_->sealed++);
  const auto aad = aad_of(h);
  auto* ctx = p_->ctx;
  int n = 0;
  payload_tag tag{};
  if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, p_->key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                        reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) != 1)
    throw failure(errc::internal, "AES-256-GCM encryption failed");
  return tag;
}

void payload_cipher::skip() { ++p_->opened; }

bool payload_cipher::open(const frame_header& h, std::span<std::byte> data, const payload_tag& tag) {
  check_size(data.size());
  const auto iv = nonce_of(p_->opened++);
  const auto aad = aad_of(h);
  auto* ctx = p_->ctx;
  int n = 0;
  payload_tag expected = tag;
  auto* bytes = reinterpret_cast<unsigned char*>(data.data());
  if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, p_->key.data(), iv.data()) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx, bytes, &n, bytes, static_cast<int>(data.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(expected.size()), expected.data()) != 1)
    throw failure(errc::internal, "AES-256-GCM decryption failed");
  return EVP_DecryptFinal_ex(ctx, bytes + n, &n) == 1;
}

}  // namespace prfaas::transport
