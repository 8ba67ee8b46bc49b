// A deployment's CA issues node certificates whose subject is the node's name and role; a node
// proves that identity by signing its registration statement.  Certificates from another CA,
// expired ones, and statements signed by another key are refused with the reason.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "runtime/common/errc.h"
#include "runtime/security/pki.h"

using namespace prfaas;
using namespace prfaas::security;
namespace fs = std::filesystem;

namespace {

struct scratch {
  std::string path;
  scratch() {
    path = (fs::temp_directory_path() / ("prfaas-pki-" + std::to_string(std::random_device{}()))).string();
    fs::create_directories(path);
  }
  ~scratch() { fs::remove_all(path); }
};

unsigned mode_of(const std::string& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string text_of(const std::string& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("a node certificate carries the node's name and role, and its key is 0600 from the start") {
  scratch s;
  auto ca = certificate_authority::create(s.path + "/pki");
  CHECK(mode_of(s.path + "/pki") == 0700);
  CHECK(mode_of(s.path + "/pki/ca.key") == 0600);
  const auto files = ca.issue({"decode-0", "decode"}, s.path + "/pki/nodes");
  CHECK(mode_of(files.key) == 0600);
  const auto who = read_identity(files.certificate);
  CHECK(who.name == "decode-0");
  CHECK(who.role == "decode");
  // A second issue for the same name does not overwrite the key.
  CHECK_THROWS_WITH(ca.issue({"decode-0", "decode"}, s.path + "/pki/nodes"), Catch::Contains("cannot create key file"));
  // A reopened CA issues certificates that chain the same way.
  auto again = certificate_authority::open(s.path + "/pki");
  const auto other = again.issue({"prefill-1", "prefill"}, s.path + "/pki/nodes");
  node_credentials c(ca.certificate_path(), other.certificate, other.key);
  CHECK(c.who().name == "prefill-1");
}

TEST_CASE("names and roles a certificate may carry are checked") {
  scratch s;
  auto ca = certificate_authority::create(s.path + "/pki");
  CHECK_THROWS_WITH(ca.issue({"../etc", "decode"}, s.path), Catch::Contains("node name"));
  CHECK_THROWS_WITH(ca.issue({"", "decode"}, s.path), Catch::Contains("node name"));
  CHECK_THROWS_WITH(ca.issue({"x", "admin"}, s.path), Catch::Contains("unknown role 'admin'"));
  CHECK_THROWS_WITH(certificate_authority::create(s.path + "/pki"), Catch::Contains("already holds a CA"));
}

TEST_CASE("a signed registration statement proves the name, another key, CA or statement does not") {
  scratch s;
  auto ca = certificate_authority::create(s.path + "/pki");
  auto foreign = certificate_authority::create(s.path + "/foreign");
  const auto d0 = ca.issue({"decode-0", "decode"}, s.path + "/nodes");
  const auto d1 = ca.issue({"decode-1", "decode"}, s.path + "/nodes");
  const auto fake = foreign.issue({"decode-0", "decode"}, s.path + "/foreign-nodes");
  verifier v(ca.certificate_path());

  node_credentials real(ca.certificate_path(), d0.certificate, d0.key);
  const auto statement = registration_statement(real.who(), "node-A", "router-R");
  const auto who = v.check(real.certificate_pem(), statement, real.sign(statement));
  CHECK(who.name == "decode-0");
  CHECK(who.role == "decode");

  SECTION("the statement was for another connection") {
    CHECK_THROWS_WITH(v.check(real.certificate_pem(), registration_statement(real.who(), "node-B", "router-R"),
                              real.sign(statement)),
                      Catch::Contains("not signed by the key"));
  }
  SECTION("decode-1's key signs a statement presenting decode-0's certificate") {
    node_credentials other(ca.certificate_path(), d1.certificate, d1.key);
    CHECK_THROWS_WITH(v.check(real.certificate_pem(), statement, other.sign(statement)),
                      Catch::Contains("not signed by the key"));
  }
  SECTION("a certificate for decode-0 from another CA") {
    node_credentials impostor(foreign.certificate_path(), fake.certificate, fake.key);
    CHECK_THROWS_WITH(v.check(impostor.certificate_pem(), statement, impostor.sign(statement)),
                      Catch::Contains("not valid for this deployment"));
    // and the node itself, pointed at the real CA, will not start with it
    CHECK_THROWS_WITH(node_credentials(ca.certificate_path(), fake.certificate, fake.key),
                      Catch::Contains("not valid for this deployment"));
  }
  SECTION("garbage instead of a certificate") {
    CHECK_THROWS_WITH(v.check("-----BEGIN CERTIFICATE-----\nAAAA\n", statement, {1, 2, 3}),
                      Catch::Contains("not a PEM certificate"));
    CHECK_THROWS_WITH(v.check(std::string(20000, 'x'), statement, {}), Catch::Contains("16 KiB"));
  }
}

TEST_CASE("an expired certificate, or one not valid yet, is refused") {
  scratch s;
  auto ca = certificate_authority::create(s.path + "/pki");
  verifier v(ca.certificate_path());
  issue_options expired;
  expired.starts_in = -std::chrono::hours(48);
  expired.valid_for = std::chrono::hours(24);
  const auto old = ca.issue({"old", "prefill"}, s.path + "/nodes", expired);
  CHECK_THROWS_WITH(node_credentials(ca.certificate_path(), old.certificate, old.key),
                    Catch::Contains("certificate has expired"));
  issue_options later;
  later.starts_in = std::chrono::hours(24);
  const auto early = ca.issue({"early", "prefill"}, s.path + "/nodes", later);
  CHECK_THROWS_WITH(v.check(text_of(early.certificate), "x", {}), Catch::Contains("not yet valid"));
}

TEST_CASE("a key file readable by others or belonging to another certificate is refused") {
  scratch s;
  auto ca = certificate_authority::create(s.path + "/pki");
  const auto a = ca.issue({"a", "decode"}, s.path + "/nodes");
  const auto b = ca.issue({"b", "decode"}, s.path + "/nodes");
  CHECK_THROWS_WITH(node_credentials(ca.certificate_path(), a.certificate, b.key), Catch::Contains("does not belong"));
  ::chmod(a.key.c_str(), 0644);
  CHECK_THROWS_WITH(node_credentials(ca.certificate_path(), a.certificate, a.key), Catch::Contains("readable by others"));
}
