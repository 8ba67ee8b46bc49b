#pragma once
// The actor plane's one door: every prfaas process publishes, connects and reconnects through
// these functions, which take mutual TLS (CAF's OpenSSL module) whenever the process was given
// credentials, and CAF's plain middleman only in a deployment started with --insecure.  Nothing
// else may call middleman().publish / remote_actor: a plaintext door beside a TLS one would let
// unauthenticated peers reach CAF's protocol parser, which 32 bytes crash (libcaf_io 0.17).

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/security/accept_limit.h"
#include "runtime/security/connection_guard.h"
#include "runtime/security/pki.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace prfaas::actors {

// The files a process proves itself with and checks its peers against; all empty: plaintext.
struct tls_files {
  std::string ca, certificate, key;
  bool enabled() const { return !ca.empty(); }
};

// Where `prfaas up` keeps a deployment's credentials: STATE/pki/ca.pem, STATE/pki/nodes/NAME.pem
// and NAME.key.
tls_files deployment_credentials(const std::string& state_dir, const std::string& name);

bool tls_on(caf::actor_system& sys);
caf::expected<uint16_t> publish(caf::actor_system& sys, const caf::actor& whom, uint16_t port, const std::string& host);
void unpublish(caf::actor_system& sys, const caf::actor& whom, uint16_t port);
// The actor published at host:port, TLS or plain as this process's plane is; a peer that does
// not complete the handshake within `timeout` is unreachable.
caf::expected<caf::actor> remote_actor(caf::actor_system& sys, const std::string& host, uint16_t port,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(3));
// True: the OpenSSL error-queue fix for libcaf_openssl is linked in (actors/openssl_error_queue.cpp).
bool openssl_error_queue_fixed();

// The BASP check at the TLS layer (actors/basp_door.cpp, runtime/security/basp_check.h): the
// payload bound (router.max_message_mib).  Refusals are logged with their running count.
void set_basp_limit(uint64_t max_payload_bytes);
// The actor messages (BASP direct and routed frames; not handshakes, monitors or heartbeats) this
// process has read from and written to its TLS connections since it started: what
// /metrics and `prfaas bench router` count per request.  Zero on a plaintext (--insecure) plane.
struct actor_plane_counts {
  uint64_t messages_in = 0, messages_out = 0;
};
actor_plane_counts actor_plane_traffic();
// Marks a TLS context of this process that carries something else (the gateway's HTTPS, an
// HTTPS client): its connections bypass the check.  The mark lives in the context itself.
void exempt_from_basp_door(ssl_ctx_st* ctx);
// Binds a node id (as CAF serializes it) to the certificate name that registered it: a later
// connection declaring that id with another certificate is refused at its handshake
// (runtime/security/node_binding.h).  The router calls it for every node it registers.
void bind_node_identity(std::string node_bytes, std::string certificate_name);
// The two doors of a listening port whose sockets another library owns (CAF and its TLS, or
// cpp-httplib): a rate per peer address for the connections this process accepts on `port`
// (every accept() of the process passes actors/accept_door.cpp; runtime/security/accept_limit.h),
// beyond which a connection is closed before that library sees it; and a connection guard
// (runtime/security/connection_guard.h) bounding and timing out the unproven ones, told of each
// connection let in at once (connection_guard::notice).  The guard runs while the returned
// pointer lives.  Ports not named pass.
std::shared_ptr<security::connection_guard> guard_port(uint16_t port, security::accept_limit_options accepts,
                                                       security::guard_options guarding);
// The certificate of the connection that declared this node id (serialized), if one did: who
// the sender of a message proved to be at its TLS handshake.
std::optional<security::identity> certificate_of_node(const std::string& node_bytes);

// The middleman actor to ask for connections asynchronously (connect_atom), TLS or plain.
caf::io::middleman_actor middleman_handle(caf::actor_system& sys);

// An error message outside a request ends an actor by CAF's default (a peer's actor answering a
// plain message with its drop handler sends one): any member of the deployment could stop a
// role so.  Every role calls this first: such messages are logged, at a bounded rate, and ignored.
void ignore_stray_errors(caf::scheduled_actor* self);

}  // namespace prfaas::actors
