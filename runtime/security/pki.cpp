#include "runtime/security/pki.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/common/errc.h"

namespace fs = std::filesystem;

namespace prfaas::security {
namespace {

struct pkey_free { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct x509_free { void operator()(X509* x) const { X509_free(x); } };
struct store_free { void operator()(X509_STORE* s) const { X509_STORE_free(s); } };
struct store_ctx_free { void operator()(X509_STORE_CTX* s) const { X509_STORE_CTX_free(s); } };
struct bio_free { void operator()(BIO* b) const { BIO_free(b); } };
struct md_ctx_free { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

// OpenSSL's queued reasons, oldest first, then cleared.
std::string ssl_reason() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "no reason given" : out;
}

[[noreturn]] void fail(errc code, const std::string& what) { throw failure(code, what + " (" + ssl_reason() + ")"); }

pkey_ptr new_key() {
  pkey_ptr k(EVP_EC_gen("P-256"));
  if (!k) fail(errc::internal, "cannot generate an EC P-256 key");
  return k;
}

// Creates PATH with mode 0600 (O_EXCL: never an existing file, never a wider mode first).
void write_key(const std::string& path, EVP_PKEY* key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw failure(errc::bad_config, "cannot create key file '" + path + "': " + std::strerror(errno));
  FILE* f = ::fdopen(fd, "w");
  if (!f) { ::close(fd); throw failure(errc::internal, "fdopen failed for '" + path + "'"); }
  const bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) fail(errc::internal, "cannot write key file '" + path + "'");
}

void write_cert(const std::string& path, X509* cert) {
  FILE* f = std::fopen((path + ".tmp").c_str(), "w");
  if (!f) throw failure(errc::bad_config, "cannot create certificate file '" + path + "'");
  const bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  if (!ok) fail(errc::internal, "cannot write certificate file '" + path + "'");
  fs::rename(path + ".tmp", path);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw failure(errc::bad_config, "cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

x509_ptr parse_cert(const std::string& pem, const std::string& what) {
  std::unique_ptr<BIO, bio_free> b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_ptr x(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!x) fail(errc::bad_config, what + " is not a PEM certificate");
  return x;
}

x509_ptr load_cert(const std::string& path) { return parse_cert(read_text(path), "'" + path + "'"); }

pkey_ptr load_key(const std::string& path) {
  const auto pem = read_text(path);
  std::unique_ptr<BIO, bio_free> b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) fail(errc::bad_config, "'" + path + "' is not a PEM private key");
  return k;
}

std::string name_entry(X509_NAME* name, int nid) {
  const int at = X509_NAME_get_index_by_NID(name, nid, -1);
  if (at < 0) return {};
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
}

identity identity_of(X509* x) {
  return {name_entry(X509_get_subject_name(x), NID_commonName),
          name_entry(X509_get_subject_name(x), NID_organizationalUnitName)};
}

void add_ext(X509* issuer, X509* x, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext || X509_add_ext(x, ext, -1) != 1) fail(errc::internal, "cannot add a certificate extension");
  X509_EXTENSION_free(ext);
}

x509_ptr new_cert(X509_NAME* subject, X509* issuer_cert, EVP_PKEY* subject_key, EVP_PKEY* issuer_key, bool is_ca,
                  const issue_options& o) {
  x509_ptr x(X509_new());
  X509_set_version(x.get(), 2);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get()));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), static_cast<long>(o.starts_in.count()));
  X509_gmtime_adj(X509_getm_notAfter(x.get()), static_cast<long>((o.starts_in + o.valid_for).count()));
  X509_set_subject_name(x.get(), subject);
  X509_set_issuer_name(x.get(), issuer_cert ? X509_get_subject_name(issuer_cert) : subject);
  X509_set_pubkey(x.get(), subject_key);
  X509* issuer = issuer_cert ? issuer_cert : x.get();
  if (is_ca) {
    add_ext(issuer, x.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(issuer, x.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(issuer, x.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(issuer, x.get(), NID_key_usage, "critical,digitalSignature");
    add_ext(issuer, x.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    std::string alt;
    for (const auto& n : o.alt_names) {
      if ((n.rfind("IP:", 0) != 0 && n.rfind("DNS:", 0) != 0) || n.find(',') != std::string::npos)
        throw failure(errc::invalid_argument, "an alternative name is IP:ADDRESS or DNS:NAME, not '" + n + "'");
      alt += (alt.empty() ? "" : ",") + n;
    }
    if (!alt.empty()) add_ext(issuer, x.get(), NID_subject_alt_name, alt.c_str());
  }
  add_ext(issuer, x.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(x.get(), issuer_key, EVP_sha256()) <= 0) fail(errc::internal, "cannot sign a certificate");
  return x;
}

bool safe_name(const std::string& s) {
  if (s.empty() || s.size() > 64 || s[0] == '.') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

bool known_role(const std::string& role) {
  return role == "router" || role == "cache-directory" || role == "prefill" || role == "decode" || role == "client" ||
         role == "gateway" || role == "operator";
}

struct certificate_authority::impl {
  x509_ptr cert;
  pkey_ptr key;
};

certificate_authority::certificate_authority(std::string dir, std::unique_ptr<impl> p)
    : dir_(std::move(dir)), p_(std::move(p)) {}
certificate_authority::~certificate_authority() = default;
certificate_authority::certificate_authority(certificate_authority&&) noexcept = default;

certificate_authority certificate_authority::create(const std::string& dir, const std::string& label) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw failure(errc::bad_config, "cannot create '" + dir + "': " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  if (fs::exists(dir + "/ca.key")) throw failure(errc::bad_config, "'" + dir + "' already holds a CA");
  auto p = std::make_unique<impl>();
  p->key = new_key();
  std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> subject(X509_NAME_new(), X509_NAME_free);
  X509_NAME_add_entry_by_txt(subject.get(), "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("prfaas"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(label.c_str()),
                             -1, -1, 0);
  issue_options o;
  o.valid_for = std::chrono::hours(24 * 365 * 5);
  p->cert = new_cert(subject.get(), nullptr, p->key.get(), p->key.get(), true, o);
  write_key(dir + "/ca.key", p->key.get());
  write_cert(dir + "/ca.pem", p->cert.get());
  return certificate_authority(dir, std::move(p));
}

certificate_authority certificate_authority::open(const std::string& dir) {
  auto p = std::make_unique<impl>();
  p->cert = load_cert(dir + "/ca.pem");
  p->key = load_key(dir + "/ca.key");
  if (X509_check_private_key(p->cert.get(), p->key.get()) != 1)
    fail(errc::bad_config, "'" + dir + "/ca.key' does not belong to '" + dir + "/ca.pem'");
  return certificate_authority(dir, std::move(p));
}

issued_files certificate_authority::issue(const identity& who, const std::string& out_dir,
                                          const issue_options& o) const {
  if (!safe_name(who.name))
    throw failure(errc::invalid_argument, "a node name is 1-64 characters of letters, digits, '-', '_' or '.', not '" +
                                              who.name + "'");
  if (!known_role(who.role))
    throw failure(errc::invalid_argument,
                  "unknown role '" + who.role + "' (router, cache-directory, prefill, decode, gateway, client, operator)");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw failure(errc::bad_config, "cannot create '" + out_dir + "': " + ec.message());
  auto key = new_key();
  std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> subject(X509_NAME_new(), X509_NAME_free);
  X509_NAME_add_entry_by_txt(subject.get(), "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("prfaas"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(subject.get(), "OU", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(who.role.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(who.name.c_str()), -1, -1, 0);
  auto cert = new_cert(subject.get(), p_->cert.get(), key.get(), p_->key.get(), false, o);
  issued_files out{out_dir + "/" + who.name + ".pem", out_dir + "/" + who.name + ".key"};
  write_key(out.key, key.get());
  write_cert(out.certificate, cert.get());
  return out;
}

identity read_identity(const std::string& cert_path) { return identity_of(load_cert(cert_path).get()); }

namespace {

// Chains `x` to the CA in `store`, at the current time.
void verify_chain(X509_STORE* store, X509* x, const std::string& what) {
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store, x, nullptr) != 1) fail(errc::internal, "cannot check " + what);
  if (X509_verify_cert(ctx.get()) != 1)
    throw failure(errc::invalid_argument,
                  what + " is not valid for this deployment: " +
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
}

std::unique_ptr<X509_STORE, store_free> store_of(const std::string& ca_path) {
  auto ca = load_cert(ca_path);
  std::unique_ptr<X509_STORE, store_free> s(X509_STORE_new());
  if (!s || X509_STORE_add_cert(s.get(), ca.get()) != 1) fail(errc::bad_config, "cannot use '" + ca_path + "' as a CA");
  return s;
}

}  // namespace

struct node_credentials::impl {
  pkey_ptr key;
};

node_credentials::node_credentials(const std::string& ca_path, const std::string& cert_path,
                                   const std::string& key_path)
    : p_(std::make_unique<impl>()) {
  cert_pem_ = read_text(cert_path);
  auto cert = parse_cert(cert_pem_, "'" + cert_path + "'");
  p_->key = load_key(key_path);
  if (X509_check_private_key(cert.get(), p_->key.get()) != 1)
    fail(errc::bad_config, "'" + key_path + "' does not belong to '" + cert_path + "'");
  struct stat st{};
  if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077))
    throw failure(errc::bad_config, "'" + key_path + "' is readable by others (chmod 600 it)");
  auto store = store_of(ca_path);
  verify_chain(store.get(), cert.get(), "certificate '" + cert_path + "'");
  who_ = identity_of(cert.get());
}

node_credentials::~node_credentials() = default;
node_credentials::node_credentials(node_credentials&&) noexcept = default;

std::vector<uint8_t> node_credentials::sign(const std::string& statement) const {
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, p_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(statement.data()),
                     statement.size()) != 1)
    fail(errc::internal, "cannot sign");
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(statement.data()),
                     statement.size()) != 1)
    fail(errc::internal, "cannot sign");
  sig.resize(len);
  return sig;
}

struct verifier::impl {
  std::unique_ptr<X509_STORE, store_free> store;
};

verifier::verifier(const std::string& ca_path) : p_(std::make_unique<impl>()) { p_->store = store_of(ca_path); }
verifier::~verifier() = default;

identity verifier::check(const std::string& cert_pem, const std::string& statement,
                         const std::vector<uint8_t>& signature) const {
  if (cert_pem.size() > 16384) throw failure(errc::invalid_argument, "a certificate of over 16 KiB");
  if (signature.size() > 512) throw failure(errc::invalid_argument, "a signature of over 512 bytes");
  auto cert = parse_cert(cert_pem, "the presented certificate");
  verify_chain(p_->store.get(), cert.get(), "the presented certificate");
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1)
    fail(errc::internal, "cannot check a signature");
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                       reinterpret_cast<const unsigned char*>(statement.data()), statement.size()) != 1) {
    ERR_clear_error();
    throw failure(errc::invalid_argument, "the registration is not signed by the key of the certificate it presents");
  }
  return identity_of(cert.get());
}

std::string registration_statement(const identity& who, const std::string& node_id, const std::string& router_id) {
  return "prfaas registration v1\nname=" + who.name + "\nrole=" + who.role + "\nnode=" + node_id +
         "\nrouter=" + router_id + "\n";
}

}  // namespace prfaas::security
