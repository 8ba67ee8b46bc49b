#include "runtime/control/etcd_client.h"

#include <httplib.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"

namespace prfaas::control {

namespace {

std::string to_base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string from_base64(const std::string& in) {
  if (in.empty()) return {};
  std::string out(3 * in.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) throw failure(errc::internal, "etcd sent a value that is not base64");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding's zero bytes.
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --len;
  out.resize(len);
  return out;
}

// etcd's JSON gives 64-bit integers as strings.
int64_t etcd_integer(const nlohmann::json& j, const char* field) {
  if (!j.contains(field)) return 0;
  const auto& v = j.at(field);
  return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>();
}

std::optional<std::string> etcd_first_value(const nlohmann::json& range) {
  if (!range.contains("kvs") || range.at("kvs").empty()) return std::nullopt;
  const auto& kv = range.at("kvs").at(0);
  return from_base64(kv.value("value", std::string()));
}

}  // namespace

etcd_client::etcd_client(std::vector<endpoint> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  if (endpoints_.empty()) throw failure(errc::invalid_argument, "etcd: no endpoint given");
}

std::string etcd_client::post(const std::string& path, const std::string& body) {
  std::string last;
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const size_t i = (next_ + tried) % endpoints_.size();
    httplib::Client http(endpoints_[i].host, endpoints_[i].port);
    const auto secs = timeout_.count() / 1000, usecs = (timeout_.count() % 1000) * 1000;
    http.set_connection_timeout(secs, usecs);
    http.set_read_timeout(secs, usecs);
    http.set_write_timeout(secs, usecs);
    auto res = path == "/health" ? http.Get(path) : http.Post(path, body, "application/json");
    if (!res) {
      last = endpoints_[i].str() + ": " + httplib::to_string(res.error());
      continue;
    }
    if (res->status != 200) {
      last = endpoints_[i].str() + ": HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 200);
      continue;
    }
    next_ = i;
    return res->body;
  }
  throw failure(errc::unreachable, "etcd: no endpoint answered " + path + " (" + last + ")");
}

int64_t etcd_client::grant(int ttl_s) {
  const auto j = nlohmann::json::parse(post("/v3/lease/grant", nlohmann::json{{"TTL", ttl_s}}.dump()));
  const int64_t id = etcd_integer(j, "ID");
  if (id == 0) throw failure(errc::internal, "etcd granted no lease: " + j.dump());
  return id;
}

bool etcd_client::keepalive(int64_t lease) {
  const auto j = nlohmann::json::parse(post("/v3/lease/keepalive", nlohmann::json{{"ID", std::to_string(lease)}}.dump()));
  // An expired or revoked lease comes back without a TTL.
  return j.contains("result") && etcd_integer(j.at("result"), "TTL") > 0;
}

void etcd_client::revoke(int64_t lease) {
  post("/v3/lease/revoke", nlohmann::json{{"ID", std::to_string(lease)}}.dump());
}

etcd_client::claim etcd_client::create_if_absent(const std::string& key, const std::string& value, int64_t lease) {
  const std::string k = to_base64(key);
  nlohmann::json txn = {
      {"compare", {{{"key", k}, {"target", "CREATE"}, {"create_revision", "0"}}}},
      {"success", {{{"request_put", {{"key", k}, {"value", to_base64(value)}, {"lease", std::to_string(lease)}}}}}},
      {"failure", {{{"request_range", {{"key", k}}}}}},
  };
  const auto j = nlohmann::json::parse(post("/v3/kv/txn", txn.dump()));
  if (j.value("succeeded", false)) return {true, value};
  for (const auto& r : j.value("responses", nlohmann::json::array()))
    if (r.contains("response_range"))
      if (auto v = etcd_first_value(r.at("response_range")))
        return {false, *v, etcd_integer(r.at("response_range").at("kvs").at(0), "mod_revision")};
  return {};  // gone again between the compare and the read: the next campaign decides
}

bool etcd_client::delete_if_unchanged(const std::string& key, int64_t revision) {
  const std::string k = to_base64(key);
  nlohmann::json txn = {
      {"compare", {{{"key", k}, {"target", "MOD"}, {"mod_revision", std::to_string(revision)}}}},
      {"success", {{{"request_delete_range", {{"key", k}}}}}},
  };
  return nlohmann::json::parse(post("/v3/kv/txn", txn.dump())).value("succeeded", false);
}

std::optional<std::string> etcd_client::get(const std::string& key) {
  const auto j = nlohmann::json::parse(post("/v3/kv/range", nlohmann::json{{"key", to_base64(key)}}.dump()));
  return etcd_first_value(j);
}

void etcd_client::put(const std::string& key, const std::string& value) {
  post("/v3/kv/put", nlohmann::json{{"key", to_base64(key)}, {"value", to_base64(value)}}.dump());
}

bool etcd_client::healthy() {
  try {
    const auto j = nlohmann::json::parse(post("/health", ""));
    return j.value("health", std::string()) == "true";
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<endpoint> parse_etcd_endpoints(const std::string& text) {
  std::vector<endpoint> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string one = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!one.empty()) {
      auto e = parse_endpoint(one);
      if (e.port == 0) throw failure(errc::invalid_argument, "etcd endpoint " + one + " needs a port");
      out.push_back(std::move(e));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) throw failure(errc::invalid_argument, "no etcd endpoint in '" + text + "'");
  if (out.size() > 16) throw failure(errc::invalid_argument, "at most 16 etcd endpoints");
  return out;
}

}  // namespace prfaas::control
