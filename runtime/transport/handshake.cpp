#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "runtime/common/errc.h"
#include "runtime/transport/link_options.h"

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

bool proofs_equal(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace prfaas::transport
