#pragma once
// The one way prfaas reads TOML (deployment configs, instance profiles, scenarios): errors name
// the file and line; every value has a type, a value of another type is an error naming its key
// and never silently a default; a table's keys are all ones its reader knows, so a typo is an
// error too.
//
//   const toml::table root = config::parse_toml_file(path);
//   config::table_reader top(path, root, "");
//   auto decode = top.table("decode");            // [decode], empty when absent
//   decode.get("bs_max", p.bs_max);              // absent: p.bs_max as it was
//   decode.reject_unknown();  top.reject_unknown();

#include <toml++/toml.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace prfaas::config {

// The document, or failure(errc::bad_config) "SOURCE:LINE: what the parser says".
toml::table parse_toml(const std::string& text, const std::string& source);
toml::table parse_toml_file(const std::string& path);

// failure(errc::bad_config) "SOURCE:LINE: what" (no line when `at` is null).
[[noreturn]] void fail_at(const std::string& source, const toml::node* at, const std::string& what);

class table_reader {
 public:
  // `name` is the table's dotted name ("" for the document's root): errors say name.key.
  table_reader(std::string source, const toml::table& table, std::string name);
  table_reader(std::string source, const toml::table& table, std::string name, const toml::node* where);

  // The value at `key` into `out` when present (true); of another type, an error.  Integers
  // are non-negative and within T's range.
  template <class T>
  bool get(const char* key, T& out);
  // An array of numbers.
  bool numbers(const char* key, std::vector<double>& out);
  // A sub-table: its reader (over an empty table when absent); not a table is an error.
  table_reader table(const char* key);
  // The node at `key` (null when absent), marking it known: for values of a shape of their own.
  const toml::node* node(const char* key);
  bool has(const char* key) const { return table_->contains(key); }

  // After every get(): any other key is a typo or an unsupported setting.
  void reject_unknown() const;
  [[noreturn]] void fail(const toml::node* at, const std::string& what) const { fail_at(source_, at, what); }
  [[noreturn]] void fail(const std::string& what) const { fail_at(source_, this_node_, what); }
  const toml::node* where() const { return this_node_; }  // the table, for errors (null: root or absent)
  std::string key_name(const char* key) const { return name_.empty() ? key : name_ + "." + key; }
  const std::string& source() const { return source_; }
  const toml::table& raw() const { return *table_; }

 private:
  std::string source_;
  const toml::table* table_;
  const toml::node* this_node_;  // for errors about the table as a whole (null: the root)
  std::string name_;
  std::map<std::string, bool> known_;
};

template <class T>
bool table_reader::get(const char* key, T& out) {
  known_[key] = true;
  const toml::node* n = table_->get(key);
  if (!n) return false;
  if constexpr (std::is_same_v<T, bool>) {
    if (auto v = n->value<bool>()) { out = *v; return true; }
    fail(n, key_name(key) + " must be true or false");
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = n->value<std::string>()) { out = *v; return true; }
    fail(n, key_name(key) + " must be a string");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto v = n->value<double>()) { out = static_cast<T>(*v); return true; }
    fail(n, key_name(key) + " must be a number");
  } else {
    static_assert(std::is_integral_v<T>);
    auto v = n->value<int64_t>();
    if (!v || *v < 0 || static_cast<uint64_t>(*v) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      fail(n, key_name(key) + " must be a non-negative integer");
    out = static_cast<T>(*v);
    return true;
  }
}

}  // namespace prfaas::config
