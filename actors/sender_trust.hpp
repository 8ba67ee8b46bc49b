#pragma once
// Who sent the message an actor is handling, as its connection's TLS handshake proved it
// (actor_plane.hpp: certificate_of_node), and what that certificate may order.  `trusted`
// false: an --insecure deployment, without certificates, where everyone is alike.  Read the
// sender before make_response_promise, which takes it out of the message.

#include <optional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "runtime/security/pki.h"

namespace prfaas::actors {

// A node id as CAF's binary serializer writes it, the form a BASP handshake carries.
std::string node_bytes(caf::actor_system& sys, const caf::node_id& node);
// The certificate the current message's sender proved; nothing for an anonymous sender or one
// no handshake named.
std::optional<security::identity> sender_identity(caf::local_actor* self);
std::string described(const std::optional<security::identity>& who);  // for refusals and logs

// What only an operator may order (the inter-cluster link, conversions): empty when the sender
// proved an operator certificate, else the refusal (logged).
std::string operator_refusal(caf::local_actor* self, bool trusted, const char* what);
// The owner a request is recorded under: the sender's certificate name ("" untrusted).
std::string owner_of_sender(caf::local_actor* self, bool trusted);
// True when the sender may act on a request `owner` submitted: the same certificate, or an
// operator's.  Otherwise the refusal is logged, naming `what`.
bool may_touch(caf::local_actor* self, bool trusted, const std::string& owner, const std::string& what);
// The same for a sender read before (`who`, sender_identity's answer): a response promise takes
// the sender out of the message.
bool may_touch(caf::local_actor* self, bool trusted, const std::optional<security::identity>& who,
               const std::string& owner, const std::string& what);

// A node registering as `who` (name and role) with its role actor `handle` and supervisor
// `control`: both must live in the sending process, and, with a verifier (null: --insecure),
// the certificate in `proof` must have signed that name and role for this sender and this
// router.  `role_ordered`: the router itself ordered this role (a conversion), the one exception
// to the certificate's role; the name never is.  Throws failure(invalid_argument) saying why not.
void check_registration(caf::local_actor* self, const security::verifier* trust, const security::identity& who,
                        const caf::actor& handle, const caf::actor& control, const registration_proof& proof,
                        bool role_ordered);

}  // namespace prfaas::actors
