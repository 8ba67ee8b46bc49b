#include "runtime/config/toml_reader.h"

#include "runtime/common/errc.h"

namespace prfaas::config {

void fail_at(const std::string& source, const toml::node* at, const std::string& what) {
  throw failure(errc::bad_config, source + (at ? ":" + std::to_string(at->source().begin.line) : "") + ": " + what);
}

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw failure(errc::bad_config, source + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
}

toml::table parse_toml_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw failure(errc::bad_config, path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
}

table_reader::table_reader(std::string source, const toml::table& table, std::string name)
    : table_reader(std::move(source), table, name, name.empty() ? nullptr : &table) {}

table_reader::table_reader(std::string source, const toml::table& table, std::string name, const toml::node* where)
    : source_(std::move(source)), table_(&table), this_node_(where), name_(std::move(name)) {}

bool table_reader::numbers(const char* key, std::vector<double>& out) {
  known_[key] = true;
  const toml::node* n = table_->get(key);
  if (!n) return false;
  const toml::array* a = n->as_array();
  if (!a) fail(n, key_name(key) + " must be an array of numbers");
  std::vector<double> values;
  for (const auto& v : *a) {
    auto x = v.value<double>();
    if (!x) fail(&v, key_name(key) + " must hold numbers only");
    values.push_back(*x);
  }
  out = std::move(values);
  return true;
}

table_reader table_reader::table(const char* key) {
  static const toml::table empty;
  known_[key] = true;
  const toml::node* n = table_->get(key);
  if (!n) return table_reader(source_, empty, key_name(key), nullptr);
  const toml::table* t = n->as_table();
  if (!t) fail(n, "[" + key_name(key) + "] must be a table");
  return table_reader(source_, *t, key_name(key));
}

const toml::node* table_reader::node(const char* key) {
  known_[key] = true;
  return table_->get(key);
}

void table_reader::reject_unknown() const {
  for (auto&& [key, node] : *table_) {
    const std::string k(key.str());
    if (known_.count(k)) continue;
    if (node.is_table() && name_.empty()) fail(&node, "unknown table [" + k + "]");
    fail(&node, "unknown key " + key_name(k.c_str()));
  }
}

}  // namespace prfaas::config
