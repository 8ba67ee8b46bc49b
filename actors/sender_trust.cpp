#include "actors/sender_trust.hpp"

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>
#include <spdlog/spdlog.h>

#include <vector>

#include "actors/actor_plane.hpp"

namespace prfaas::actors {

std::string node_bytes(caf::actor_system& sys, const caf::node_id& node) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (sink(const_cast<caf::node_id&>(node))) return "";
  return std::string(buf.begin(), buf.end());
}

std::optional<security::identity> sender_identity(caf::local_actor* self) {
  const auto& from = self->current_sender();
  return from ? certificate_of_node(node_bytes(self->system(), from->node())) : std::nullopt;
}

std::string described(const std::optional<security::identity>& who) {
  return who ? who->role + " certificate " + who->name : std::string("no known certificate");
}

std::string operator_refusal(caf::local_actor* self, bool trusted, const char* what) {
  if (!trusted) return "";
  const auto who = sender_identity(self);
  if (who && who->role == "operator") return "";
  spdlog::warn("{}: refused {} from a sender with {}", self->name(), what, described(who));
  return std::string(what) + " needs an operator certificate (`prfaas up` makes STATE/pki/nodes/operator.pem); the sender holds " +
         described(who);
}

std::string owner_of_sender(caf::local_actor* self, bool trusted) {
  if (!trusted) return "";
  const auto who = sender_identity(self);
  return who ? who->name : std::string("an unknown sender");
}

bool may_touch(caf::local_actor* self, bool trusted, const std::string& owner, const std::string& what) {
  return may_touch(self, trusted, sender_identity(self), owner, what);
}

bool may_touch(caf::local_actor* self, bool trusted, const std::optional<security::identity>& who,
               const std::string& owner, const std::string& what) {
  if (!trusted) return true;
  if (who && (who->name == owner || who->role == "operator")) return true;
  spdlog::warn("{}: refused {} of {}: the sender holds {}", self->name(), what, owner, described(who));
  return false;
}

void check_registration(caf::local_actor* self, const security::verifier* trust, const security::identity& who,
                        const caf::actor& handle, const caf::actor& control, const registration_proof& proof,
                        bool role_ordered) {
  const auto& from = self->current_sender();
  if (!from || !handle || handle.node() != from->node() || (control && control.node() != from->node()))
    throw failure(errc::invalid_argument, "node " + who.name + " registered actors of another process");
  if (!trust) return;
  const auto signer = trust->check(
      proof.certificate_pem,
      security::registration_statement(who, caf::to_string(from->node()), caf::to_string(self->node())),
      proof.signature);
  if (signer.name != who.name || (signer.role != who.role && !role_ordered))
    throw failure(errc::invalid_argument, "a node with the certificate of " + signer.role + " node " + signer.name +
                                              " tried to register as " + who.role + " node " + who.name);
}

}  // namespace prfaas::actors
