#pragma once
// A deployment's own certificate authority, and the identities it vouches for.
//
// `prfaas up` makes one CA per deployment and one certificate per node; the actor plane runs
// mutual TLS against that CA (CAF's OpenSSL module), so a peer without such a certificate never
// reaches CAF's protocol parser.  TLS proves only "some node of this deployment": which node is
// bound at registration, where a node signs a statement naming itself and the two CAF node ids
// with the key of its certificate, whose subject carries the node's name (CN) and role (OU).
//
//   auto ca = certificate_authority::create(dir + "/pki");       // ca.pem, ca.key (0600)
//   ca.issue({"decode-0", "decode"}, dir + "/pki/nodes");        // decode-0.pem, decode-0.key
//   node_credentials me = load_credentials(ca_pem, cert, key);   // checks the pair and the chain
//   auto sig = me.sign(statement);
//   verifier v(ca_pem); identity who = v.check(cert_pem_text, statement, sig);  // throws failure
//
// Keys are EC P-256, written with mode 0600 by open(O_EXCL): never readable by others, not even
// for an instant.  Every function throws failure(bad_config / invalid_argument) naming the file
// and OpenSSL's reason.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace prfaas::security {

struct identity {
  std::string name;  // the node's name, unique in the deployment (CN)
  std::string role;  // router | cache-directory | prefill | decode | gateway | client | operator (OU)
};

// Roles a certificate may carry.
bool known_role(const std::string& role);

struct issued_files {
  std::string certificate, key;
};

struct issue_options {
  std::chrono::seconds valid_for{std::chrono::hours(24 * 365)};
  std::chrono::seconds starts_in{-std::chrono::minutes(5)};  // a little back: clocks differ
  // Subject alternative names of a server certificate ("IP:127.0.0.1", "DNS:localhost"): what
  // an HTTPS client checks the host it dialled against.
  std::vector<std::string> alt_names;
};

class certificate_authority {
 public:
  // Makes DIR (0700) with ca.pem and ca.key; refuses a DIR that already holds a CA.
  static certificate_authority create(const std::string& dir, const std::string& label = "prfaas deployment");
  // Loads DIR/ca.pem and DIR/ca.key.
  static certificate_authority open(const std::string& dir);
  ~certificate_authority();
  certificate_authority(certificate_authority&&) noexcept;

  // Writes OUT_DIR/NAME.pem and OUT_DIR/NAME.key (0600); refuses to overwrite a key.
  issued_files issue(const identity& who, const std::string& out_dir, const issue_options& o = {}) const;
  std::string certificate_path() const { return dir_ + "/ca.pem"; }

 private:
  struct impl;
  certificate_authority(std::string dir, std::unique_ptr<impl> p);
  std::string dir_;
  std::unique_ptr<impl> p_;
};

// The identity written in a certificate file (no chain check).
identity read_identity(const std::string& cert_path);

// A node's certificate and key, ready to sign registration statements.
class node_credentials {
 public:
  // Checks that the key matches the certificate and the certificate chains to the CA now.
  node_credentials(const std::string& ca_path, const std::string& cert_path, const std::string& key_path);
  ~node_credentials();
  node_credentials(node_credentials&&) noexcept;

  const identity& who() const { return who_; }
  const std::string& certificate_pem() const { return cert_pem_; }
  std::vector<uint8_t> sign(const std::string& statement) const;

 private:
  struct impl;
  identity who_;
  std::string cert_pem_;
  std::unique_ptr<impl> p_;
};

// Checks certificates presented at registration against the deployment's CA.
class verifier {
 public:
  explicit verifier(const std::string& ca_path);
  ~verifier();
  // The identity of `cert_pem` once it chains to the CA, is valid now, and `signature` is its
  // key's signature of `statement`; throws failure(invalid_argument) saying which check failed.
  identity check(const std::string& cert_pem, const std::string& statement,
                 const std::vector<uint8_t>& signature) const;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

// What a node signs when it registers: its name, its role and the two ends of the connection,
// so a statement cannot be replayed by another process or to another router.
std::string registration_statement(const identity& who, const std::string& node_id, const std::string& router_id);

}  // namespace prfaas::security
