// The BASP check (runtime/security/basp_check.h) at the actor plane's TLS layer: every byte a
// peer's TLS connection delivers to CAF passes through SSL_read, which openssl_error_queue.cpp
// wraps and which hands the decrypted bytes here before CAF sees them.  A connection whose
// stream breaks the check is refused: that SSL_read and every later one fails, SSL_get_error
// says SSL_ERROR_SSL (CAF then closes the connection as after any TLS failure), and the refusal
// is counted and logged with the peer's address.  CAF never parses the bad header.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "actors/actor_plane.hpp"
#include "actors/ssl_interpose.hpp"
#include "runtime/common/socket_address.h"
#include "runtime/security/basp_check.h"
#include "runtime/security/node_binding.h"

namespace prfaas::actors {

namespace {

struct door {
  std::mutex mutex;
  std::unordered_map<const SSL*, security::basp_check> streams;
  std::unordered_set<const SSL*> refused;
  std::atomic<uint64_t> max_payload{16u << 20};
  std::atomic<uint64_t> refusals{0};
  // What this process writes, walked the same way only to count its actor messages.
  std::unordered_map<const SSL*, security::basp_check> written;
  std::atomic<uint64_t> messages_in{0}, messages_out{0};
  security::node_bindings bindings;  // registered nodes' ids and the certificates that may declare them
};

door& the_door() {
  static door d;  // process-wide by nature: SSL_read itself is
  return d;
}

std::string peer_of(const SSL* ssl) {
  const auto a = peer_address(SSL_get_fd(ssl));
  return a ? host_port_text(*a) : "unknown peer";
}

// The ex_data slot of SSL_CTX that marks a context as not the actor plane's.
int exempt_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
char exempt_mark;

bool exempt(const SSL* ssl) {
  const SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  return ctx && SSL_CTX_get_ex_data(ctx, exempt_index()) == &exempt_mark;
}

// The name (CN) and role (OU) of the peer's certificate (empty without one).
security::identity peer_identity(const SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  char cn[256] = "", ou[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationalUnitName, ou, sizeof ou);
  X509_free(cert);
  return {cn, ou};
}

}  // namespace

void bind_node_identity(std::string node_bytes, std::string certificate_name) {
  the_door().bindings.bind(std::move(node_bytes), std::move(certificate_name));
}

std::optional<security::identity> certificate_of_node(const std::string& node_bytes) {
  return the_door().bindings.certificate_of(node_bytes);
}

void set_basp_limit(uint64_t max_payload_bytes) { the_door().max_payload = max_payload_bytes; }

bool on_actor_plane(const SSL* ssl) { return !exempt(ssl); }

void exempt_from_basp_door(SSL_CTX* ctx) {
  if (ctx) SSL_CTX_set_ex_data(ctx, exempt_index(), &exempt_mark);
}

// Called by the SSL_read wrapper with what the real call returned.  Returns what CAF is told.
int basp_door_read(SSL* ssl, const void* buf, int got) {
  if (exempt(ssl)) return got;
  auto& d = the_door();
  std::lock_guard lock(d.mutex);
  if (d.refused.count(ssl)) return -1;
  if (got <= 0) return got;
  auto it = d.streams.find(ssl);
  if (it == d.streams.end()) it = d.streams.emplace(ssl, security::basp_check({d.max_payload.load()})).first;
  std::string why;
  const uint64_t before = it->second.messages();
  if (it->second.feed(static_cast<const uint8_t*>(buf), static_cast<size_t>(got))) {
    d.messages_in += it->second.messages() - before;
    // The node the peer declares itself to be must be one its certificate may speak for.
    std::string handshake;
    if (!it->second.take_handshake(handshake)) return got;
    auto peer = peer_identity(ssl);
    const std::string cert = peer.name;
    const auto victim = d.bindings.impersonates(handshake, cert);
    if (!victim) {
      d.bindings.declared(handshake, std::move(peer));
      return got;
    }
    why = "its handshake declares the node of " + *victim + ", but its certificate is " + (cert.empty() ? "none" : cert);
  } else {
    why = it->second.why();
  }
  d.refused.insert(ssl);
  const uint64_t n = ++d.refusals;
  if (n <= 10 || n % 100 == 0)
    spdlog::warn("actor plane: refused the connection from {}: {} (refusals so far: {})", peer_of(ssl), why, n);
  d.streams.erase(it);
  return -1;
}

void basp_door_wrote(SSL* ssl, const void* buf, int sent) {
  if (sent <= 0 || exempt(ssl)) return;
  auto& d = the_door();
  std::lock_guard lock(d.mutex);
  auto it = d.written.find(ssl);
  if (it == d.written.end())
    it = d.written.emplace(ssl, security::basp_check({UINT32_MAX, /*allow_routed=*/true})).first;
  const uint64_t before = it->second.messages();
  if (it->second.feed(static_cast<const uint8_t*>(buf), static_cast<size_t>(sent)))
    d.messages_out += it->second.messages() - before;
}

actor_plane_counts actor_plane_traffic() {
  auto& d = the_door();
  return {d.messages_in.load(), d.messages_out.load()};
}

bool basp_door_refused(const SSL* ssl) {
  auto& d = the_door();
  std::lock_guard lock(d.mutex);
  return d.refused.count(ssl) > 0;
}

void basp_door_forget(const SSL* ssl) {
  auto& d = the_door();
  std::lock_guard lock(d.mutex);
  d.streams.erase(ssl);
  d.written.erase(ssl);
  d.refused.erase(ssl);
}

}  // namespace prfaas::actors

extern "C" {

int SSL_get_error(const SSL* ssl, int ret) {
  static const auto real = prfaas::actors::next_definition<int (*)(const SSL*, int)>("SSL_get_error");
  if (ret <= 0 && prfaas::actors::basp_door_refused(ssl)) return SSL_ERROR_SSL;
  return real(ssl, ret);
}

void SSL_free(SSL* ssl) {
  static const auto real = prfaas::actors::next_definition<void (*)(SSL*)>("SSL_free");
  prfaas::actors::basp_door_forget(ssl);
  real(ssl);
}

}  // extern "C"
