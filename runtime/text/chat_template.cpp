#include "runtime/text/chat_template.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "runtime/common/errc.h"

namespace prfaas::text {

using ojson = nlohmann::ordered_json;  // keys in the template's order

namespace {

constexpr size_t kMaxOutput = 64 << 20;     // bytes one render may write
constexpr int64_t kMaxIterations = 1 << 22;  // loop bodies one render may run
constexpr int kMaxDepth = 200;               // nesting of expressions and statements

// ---------------------------------------------------------------------------------------------
// Values: JSON with Jinja's "undefined" beside it.

struct value {
  ojson v;
  bool undefined = false;
  static value undef() { return {ojson(), true}; }
};

bool truthy(const value& x) {
  if (x.undefined) return false;
  const ojson& v = x.v;
  switch (v.type()) {
    case ojson::value_t::null: return false;
    case ojson::value_t::boolean: return v.get<bool>();
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned: return v.get<int64_t>() != 0;
    case ojson::value_t::number_float: return v.get<double>() != 0;
    case ojson::value_t::string: return !v.get_ref<const std::string&>().empty();
    case ojson::value_t::array:
    case ojson::value_t::object: return !v.empty();
    default: return true;
  }
}

std::string python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {  // the shortest text that reads back
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string python_repr(const ojson& v);

std::string python_str(const value& x) {
  if (x.undefined) return "";
  const ojson& v = x.v;
  switch (v.type()) {
    case ojson::value_t::string: return v.get<std::string>();
    case ojson::value_t::null: return "None";
    case ojson::value_t::boolean: return v.get<bool>() ? "True" : "False";
    case ojson::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case ojson::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case ojson::value_t::number_float: return python_float(v.get<double>());
    default: return python_repr(v);
  }
}

std::string python_repr(const ojson& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
    std::string out(1, q);
    for (char c : s) {
      if (c == q || c == '\\') out += '\\', out += c;
      else if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\r') out += "\\r";
      else out += c;
    }
    return out + q;
  }
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + python_repr(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, x] : v.items()) {
      out += (first ? "" : ", ") + python_repr(ojson(k)) + ": " + python_repr(x);
      first = false;
    }
    return out + "}";
  }
  return python_str({v});
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void python_json_to(std::string& out, const ojson& v, int indent, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (v.type()) {
    case ojson::value_t::string: json_string(out, v.get_ref<const std::string&>()); return;
    case ojson::value_t::null: out += "null"; return;
    case ojson::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case ojson::value_t::number_float: {
      const double d = v.get<double>();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : python_float(d);
      return;
    }
    case ojson::value_t::array: {
      if (v.empty()) { out += "[]"; return; }
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += indent >= 0 ? "," : ", ";
        if (indent >= 0) newline(depth + 1);
        python_json_to(out, v[i], indent, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case ojson::value_t::object: {
      if (v.empty()) { out += "{}"; return; }
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.items()) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) newline(depth + 1);
        json_string(out, k);
        out += ": ";
        python_json_to(out, x, indent, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += '}';
      return;
    }
    default: out += v.dump();  // integers
  }
}

// ---------------------------------------------------------------------------------------------
// Expressions.

struct expr;
using expr_ptr = std::unique_ptr<expr>;

enum class ek {
  literal, name, attr, index, slice, call, filter, test, unary_not, unary_minus, binary, both, either, ternary,
  list, dict, tuple
};

struct expr {
  ek kind;
  int line = 0;
  ojson literal;                 // literal
  std::string name;              // name, attr, call (function or method), filter, test, binary operator
  bool negate = false;           // test: `is not`
  std::vector<expr_ptr> args;    // operands; call/filter/test: the object first (if any), then arguments
  std::vector<std::pair<std::string, expr_ptr>> kwargs;
};

struct token {
  enum kind_t { name, number, string, op, end } kind;
  std::string text;
  ojson number_value;
};

[[noreturn]] void fail_parse(const std::string& origin, int line, const std::string& what) {
  throw failure(errc::bad_config, origin + ": chat template line " + std::to_string(line) + ": " + what);
}

std::vector<token> lex_expression(const std::string& s, const std::string& origin, int line) {
  std::vector<token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({token::name, s.substr(i, j - i), {}});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool real = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        real = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      std::string text = s.substr(i, j - i);
      std::erase(text, '_');
      token t{token::number, text, {}};
      t.number_value = real ? ojson(std::stod(text)) : ojson(std::stoll(text));
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) { v += s[j]; continue; }
        const char e = s[++j];
        switch (e) {
          case 'n': v += '\n'; break;
          case 't': v += '\t'; break;
          case 'r': v += '\r'; break;
          case '\\': v += '\\'; break;
          case '\'': v += '\''; break;
          case '"': v += '"'; break;
          default: v += '\\', v += e;
        }
      }
      if (j >= s.size()) fail_parse(origin, line, "a string literal is not closed");
      out.push_back({token::string, v, {}});
      i = j + 1;
      continue;
    }
    static const char* two[] = {"==", "!=", "<=", ">=", "//", "**"};
    bool matched = false;
    for (const char* t : two)
      if (s.compare(i, 2, t) == 0) {
        out.push_back({token::op, t, {}});
        i += 2;
        matched = true;
        break;
      }
    if (matched) continue;
    if (std::string("+-*/%~|.,:()[]{}<>=").find(c) == std::string::npos)
      fail_parse(origin, line, std::string("unexpected character '") + c + "' in an expression");
    out.push_back({token::op, std::string(1, c), {}});
    ++i;
  }
  out.push_back({token::end, "", {}});
  return out;
}

const std::set<std::string> kFilters = {"length", "count", "tojson", "trim", "string", "lower", "upper", "first",
                                        "last", "join", "default", "d", "list", "items", "reverse", "int", "float",
                                        "abs", "safe", "capitalize", "title", "replace"};
const std::set<std::string> kTests = {"defined", "undefined", "none", "string", "number", "integer", "float",
                                      "mapping", "iterable", "sequence", "boolean", "true", "false", "odd", "even"};
const std::set<std::string> kFunctions = {"namespace", "range", "raise_exception"};
const std::set<std::string> kMethods = {"startswith", "endswith", "split", "rsplit", "strip", "lstrip", "rstrip",
                                        "upper", "lower", "replace", "title", "capitalize", "get", "items", "keys",
                                        "values"};

class expr_parser {
 public:
  expr_parser(std::vector<token> tokens, const std::string& origin, int line)
      : t_(std::move(tokens)), origin_(origin), line_(line) {}

  expr_ptr parse_all() {
    auto e = parse_expression();
    if (!at_end()) fail("unexpected '" + peek().text + "'");
    return e;
  }
  expr_ptr parse_expression() { return parse_ternary(); }
  expr_ptr parse_without_ternary() { return parse_or(); }  // a for loop's iterable: its `if` filters
  bool at_end() const { return t_[pos_].kind == token::end; }
  const token& peek() const { return t_[pos_]; }
  bool accept_op(const char* op) {
    if (peek().kind == token::op && peek().text == op) { ++pos_; return true; }
    return false;
  }
  bool accept_name(const char* n) {
    if (peek().kind == token::name && peek().text == n) { ++pos_; return true; }
    return false;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(std::string("expected '") + op + "'" + (at_end() ? "" : ", found '" + peek().text + "'"));
  }
  std::string expect_name() {
    if (peek().kind != token::name) fail("expected a name");
    return t_[pos_++].text;
  }
  [[noreturn]] void fail(const std::string& what) const { fail_parse(origin_, line_, what); }
  int line() const { return line_; }

 private:
  expr_ptr make(ek kind) {
    auto e = std::make_unique<expr>();
    e->kind = kind;
    e->line = line_;
    return e;
  }
  void deeper() {
    if (++depth_ > kMaxDepth) fail("the expression is nested too deeply");
  }

  expr_ptr parse_ternary() {
    deeper();
    auto e = parse_or();
    if (accept_name("if")) {
      auto t = make(ek::ternary);
      auto cond = parse_or();
      expr_ptr other;
      if (accept_name("else")) other = parse_ternary();
      else other = literal_undefined();
      t->args.push_back(std::move(cond));
      t->args.push_back(std::move(e));
      t->args.push_back(std::move(other));
      e = std::move(t);
    }
    --depth_;
    return e;
  }
  expr_ptr literal_undefined() {
    auto e = make(ek::name);
    e->name = "\x01undefined";
    return e;
  }
  expr_ptr parse_or() {
    auto e = parse_and();
    while (accept_name("or")) {
      auto b = make(ek::either);
      b->args.push_back(std::move(e));
      b->args.push_back(parse_and());
      e = std::move(b);
    }
    return e;
  }
  expr_ptr parse_and() {
    auto e = parse_not();
    while (accept_name("and")) {
      auto b = make(ek::both);
      b->args.push_back(std::move(e));
      b->args.push_back(parse_not());
      e = std::move(b);
    }
    return e;
  }
  expr_ptr parse_not() {
    if (accept_name("not")) {
      auto n = make(ek::unary_not);
      n->args.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }
  expr_ptr parse_compare() {
    auto e = parse_math1();
    for (;;) {
      std::string op;
      if (peek().kind == token::op &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
           peek().text == "<=" || peek().text == ">=")) {
        op = t_[pos_++].text;
      } else if (accept_name("in")) {
        op = "in";
      } else if (peek().kind == token::name && peek().text == "not" && t_[pos_ + 1].kind == token::name &&
                 t_[pos_ + 1].text == "in") {
        pos_ += 2;
        op = "not in";
      } else {
        return e;
      }
      auto b = make(ek::binary);
      b->name = op;
      b->args.push_back(std::move(e));
      b->args.push_back(parse_math1());
      e = std::move(b);
    }
  }
  expr_ptr binary(std::string op, expr_ptr l, expr_ptr r) {
    auto b = make(ek::binary);
    b->name = std::move(op);
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return b;
  }
  expr_ptr parse_math1() {
    auto e = parse_concat();
    while (peek().kind == token::op && (peek().text == "+" || peek().text == "-")) {
      const std::string op = t_[pos_++].text;
      e = binary(op, std::move(e), parse_concat());
    }
    return e;
  }
  expr_ptr parse_concat() {
    auto e = parse_math2();
    while (accept_op("~")) e = binary("~", std::move(e), parse_math2());
    return e;
  }
  expr_ptr parse_math2() {
    auto e = parse_unary();
    while (peek().kind == token::op &&
           (peek().text == "*" || peek().text == "/" || peek().text == "//" || peek().text == "%")) {
      const std::string op = t_[pos_++].text;
      e = binary(op, std::move(e), parse_unary());
    }
    return e;
  }
  expr_ptr parse_unary() {
    deeper();
    expr_ptr e;
    if (accept_op("-")) {
      e = make(ek::unary_minus);
      e->args.push_back(parse_unary());
    } else if (accept_op("+")) {
      e = parse_unary();
    } else {
      e = parse_postfix(parse_primary());
    }
    e = parse_filters(std::move(e));
    --depth_;
    return e;
  }
  void parse_call_args(expr& call) {
    if (accept_op(")")) return;
    do {
      if (peek().kind == token::name && t_[pos_ + 1].kind == token::op && t_[pos_ + 1].text == "=") {
        std::string key = t_[pos_].text;
        pos_ += 2;
        call.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!call.kwargs.empty()) fail("a positional argument after a keyword argument");
        call.args.push_back(parse_expression());
      }
    } while (accept_op(","));
    expect_op(")");
  }
  expr_ptr parse_primary() {
    const token& t = peek();
    if (t.kind == token::string) {
      auto e = make(ek::literal);
      std::string s = t_[pos_++].text;
      while (peek().kind == token::string) s += t_[pos_++].text;  // adjacent literals join
      e->literal = s;
      return e;
    }
    if (t.kind == token::number) {
      auto e = make(ek::literal);
      e->literal = t_[pos_++].number_value;
      return e;
    }
    if (t.kind == token::name) {
      const std::string n = t_[pos_++].text;
      if (n == "true" || n == "True" || n == "false" || n == "False") {
        auto e = make(ek::literal);
        e->literal = n == "true" || n == "True";
        return e;
      }
      if (n == "none" || n == "None") return make(ek::literal);
      if (accept_op("(")) {
        if (!kFunctions.count(n)) fail("the function '" + n + "' is not supported");
        auto e = make(ek::call);
        e->name = n;
        parse_call_args(*e);
        return e;
      }
      auto e = make(ek::name);
      e->name = n;
      return e;
    }
    if (accept_op("(")) {
      auto e = parse_expression();
      if (accept_op(",")) {
        auto tuple = make(ek::tuple);
        tuple->args.push_back(std::move(e));
        if (!accept_op(")")) {
          do tuple->args.push_back(parse_expression());
          while (accept_op(",") && !(peek().kind == token::op && peek().text == ")"));
          expect_op(")");
        }
        return tuple;
      }
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      auto e = make(ek::list);
      if (!accept_op("]")) {
        do {
          if (peek().kind == token::op && peek().text == "]") break;
          e->args.push_back(parse_expression());
        } while (accept_op(","));
        expect_op("]");
      }
      return e;
    }
    if (accept_op("{")) {
      auto e = make(ek::dict);
      if (!accept_op("}")) {
        do {
          if (peek().kind == token::op && peek().text == "}") break;
          e->args.push_back(parse_expression());
          expect_op(":");
          e->args.push_back(parse_expression());
        } while (accept_op(","));
        expect_op("}");
      }
      return e;
    }
    fail(at_end() ? "the expression ends too soon" : "unexpected '" + t.text + "'");
  }
  expr_ptr parse_postfix(expr_ptr e) {
    for (;;) {
      if (accept_op(".")) {
        const std::string n = expect_name();
        if (accept_op("(")) {
          if (!kMethods.count(n)) fail("the method '" + n + "' is not supported");
          auto c = make(ek::call);
          c->name = n;
          c->args.push_back(std::move(e));
          parse_call_args(*c);
          e = std::move(c);
        } else {
          auto a = make(ek::attr);
          a->name = n;
          a->args.push_back(std::move(e));
          e = std::move(a);
        }
      } else if (accept_op("[")) {
        expr_ptr parts[3];
        bool slice = false;
        int part = 0;
        while (!accept_op("]")) {
          if (accept_op(":")) {
            slice = true;
            if (++part > 2) fail("a slice has at most three parts");
            continue;
          }
          if (parts[part]) fail("expected ':' or ']' in a subscript");
          parts[part] = parse_expression();
        }
        if (slice) {
          auto s = make(ek::slice);
          s->args.push_back(std::move(e));
          for (auto& p : parts) s->args.push_back(std::move(p));  // null: omitted
          e = std::move(s);
        } else {
          if (!parts[0]) fail("an empty subscript");
          auto i = make(ek::index);
          i->args.push_back(std::move(e));
          i->args.push_back(std::move(parts[0]));
          e = std::move(i);
        }
      } else {
        return e;
      }
    }
  }
  expr_ptr parse_filters(expr_ptr e) {
    for (;;) {
      if (accept_op("|")) {
        const std::string n = expect_name();
        if (!kFilters.count(n)) fail("the filter '" + n + "' is not supported");
        auto f = make(ek::filter);
        f->name = n;
        f->args.push_back(std::move(e));
        if (accept_op("(")) parse_call_args(*f);
        e = std::move(f);
      } else if (accept_name("is")) {
        auto t = make(ek::test);
        t->negate = accept_name("not");
        t->name = expect_name();
        if (!kTests.count(t->name)) fail("the test '" + t->name + "' is not supported");
        t->args.push_back(std::move(e));
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  std::vector<token> t_;
  size_t pos_ = 0;
  const std::string& origin_;
  int line_;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Statements.

enum class sk { text, output, if_, for_, set, set_attr, break_, continue_ };

struct stmt {
  sk kind;
  int line = 0;
  std::string text;                            // text
  expr_ptr e;                                  // output, set, set_attr: the value; for: the iterable
  std::vector<std::string> targets;            // for, set: the names (a tuple when more than one)
  std::string attr;                            // set_attr: name.attr
  std::vector<std::pair<expr_ptr, std::vector<stmt>>> branches;  // if: (condition or null for else, body)
  expr_ptr filter;                             // for ... if filter
  std::vector<stmt> body, otherwise;           // for, for-else
};

// A tag or text of the source, with its whitespace controls.
struct segment {
  enum kind_t { text, output, block, comment } kind;
  std::string content;
  int line = 0;
  bool strip_before = false, strip_after = false;  // '-' at the tag's start / end
  bool keep_indent = false;                         // '+' at a block's start: no lstrip_blocks
};

const char* const kSpace = " \t\n\r\f\v";

std::vector<segment> split_source(const std::string& src, const std::string& origin) {
  std::vector<segment> out;
  size_t i = 0;
  int line = 1;
  auto count_lines = [&](size_t from, size_t to) {
    line += static_cast<int>(std::count(src.begin() + static_cast<std::ptrdiff_t>(from),
                                        src.begin() + static_cast<std::ptrdiff_t>(to), '\n'));
  };
  while (i < src.size()) {
    size_t open = src.find('{', i);
    while (open != std::string::npos && open + 1 < src.size() && src[open + 1] != '{' && src[open + 1] != '%' &&
           src[open + 1] != '#')
      open = src.find('{', open + 1);
    if (open == std::string::npos || open + 1 >= src.size()) {
      out.push_back({segment::text, src.substr(i), line});
      break;
    }
    if (open > i) out.push_back({segment::text, src.substr(i, open - i), line});
    count_lines(i, open);
    const char kind = src[open + 1];
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t start = open + 2;
    segment s{kind == '{' ? segment::output : kind == '%' ? segment::block : segment::comment, "", line};
    if (start < src.size() && src[start] == '-') s.strip_before = true, ++start;
    else if (start < src.size() && src[start] == '+') s.keep_indent = true, ++start;
    size_t end = src.find(close, start);
    if (kind != '#') {  // a '}}' or '%}' inside a string literal or brackets does not close the tag
      char quote = 0;
      int depth = 0;
      size_t j = start;
      for (; j + 1 < src.size(); ++j) {
        if (quote) {
          if (src[j] == '\\') ++j;
          else if (src[j] == quote) quote = 0;
        } else if (src[j] == '\'' || src[j] == '"') {
          quote = src[j];
        } else if (depth == 0 && src.compare(j, 2, close) == 0) {
          break;
        } else if (src[j] == '{' || src[j] == '(' || src[j] == '[') {
          ++depth;
        } else if ((src[j] == '}' || src[j] == ')' || src[j] == ']') && depth > 0) {
          --depth;
        }
      }
      end = j + 1 < src.size() ? j : std::string::npos;
    }
    if (end == std::string::npos) fail_parse(origin, line, "a tag opened here is not closed");
    size_t content_end = end;
    if (content_end > start && src[content_end - 1] == '-') s.strip_after = true, --content_end;
    s.content = src.substr(start, content_end - start);
    out.push_back(std::move(s));
    count_lines(open, end + 2);
    i = end + 2;
  }
  // Whitespace control: '-' strips all whitespace beside the tag; lstrip_blocks strips a block
  // or comment tag's indentation on its line; trim_blocks removes the newline after one.
  auto is_tag = [](const segment& s) { return s.kind != segment::text; };
  auto is_block = [](const segment& s) { return s.kind == segment::block || s.kind == segment::comment; };
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].kind != segment::text) continue;
    std::string& t = out[k].content;
    bool line_start = k == 0;  // the text begins a line of the source
    if (k > 0 && is_tag(out[k - 1])) {
      if (out[k - 1].strip_after) {
        const size_t keep = t.find_first_not_of(kSpace);
        const size_t cut = keep == std::string::npos ? t.size() : keep;
        line_start = t.substr(0, cut).find('\n') != std::string::npos;
        t.erase(0, cut);
      } else if (is_block(out[k - 1])) {
        if (t.rfind("\r\n", 0) == 0) t.erase(0, 2), line_start = true;
        else if (!t.empty() && t[0] == '\n') t.erase(0, 1), line_start = true;
      }
    }
    if (k + 1 < out.size() && is_tag(out[k + 1])) {
      if (out[k + 1].strip_before) {
        const size_t last = t.find_last_not_of(kSpace);
        t.erase(last == std::string::npos ? 0 : last + 1);
      } else if (is_block(out[k + 1]) && !out[k + 1].keep_indent) {
        const size_t nl = t.find_last_of('\n');
        const size_t from = nl == std::string::npos ? 0 : nl + 1;
        if ((nl != std::string::npos || line_start) && t.find_first_not_of(" \t", from) == std::string::npos) t.erase(from);
      }
    }
  }
  return out;
}

struct program_parser {
  const std::vector<segment>& segs;
  const std::string& origin;
  size_t pos = 0;

  // The words of a block tag: its keyword and the rest.
  static std::pair<std::string, std::string> keyword(const std::string& content) {
    size_t b = content.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {"", ""};
    size_t e = b;
    while (e < content.size() && (std::isalnum(static_cast<unsigned char>(content[e])) || content[e] == '_')) ++e;
    return {content.substr(b, e - b), content.substr(e)};
  }

  // Parses until a block whose keyword is in `stops`; returns that keyword ("" at the end).
  std::string parse_body(std::vector<stmt>& body, const std::set<std::string>& stops, int depth) {
    if (depth > kMaxDepth) fail_parse(origin, segs[pos - 1].line, "statements are nested too deeply");
    while (pos < segs.size()) {
      const segment& s = segs[pos++];
      switch (s.kind) {
        case segment::comment: break;
        case segment::text:
          if (!s.content.empty()) body.push_back(stmt{sk::text, s.line, s.content});
          break;
        case segment::output: {
          stmt st{sk::output, s.line};
          st.e = expr_parser(lex_expression(s.content, origin, s.line), origin, s.line).parse_all();
          body.push_back(std::move(st));
          break;
        }
        case segment::block: {
          auto [kw, rest] = keyword(s.content);
          if (stops.count(kw)) {
            --pos;
            return kw;
          }
          body.push_back(parse_block(kw, rest, s.line, depth));
          break;
        }
      }
    }
    return "";
  }

  std::string tag_rest() {  // the text after the keyword of the block at pos - 1
    return keyword(segs[pos - 1].content).second;
  }

  stmt parse_block(const std::string& kw, const std::string& rest, int line, int depth) {
    auto lex = [&](const std::string& text) { return expr_parser(lex_expression(text, origin, line), origin, line); };
    if (kw == "if") {
      stmt st{sk::if_, line};
      std::string cond_text = rest;
      for (;;) {
        expr_ptr cond = cond_text.empty() ? nullptr : lex(cond_text).parse_all();
        std::vector<stmt> body;
        const std::string stop = parse_body(body, {"elif", "else", "endif"}, depth + 1);
        if (stop.empty()) fail_parse(origin, line, "'if' is not closed by 'endif'");
        st.branches.emplace_back(std::move(cond), std::move(body));
        ++pos;
        if (stop == "endif") break;
        if (stop == "else") {
          cond_text.clear();
          std::vector<stmt> last;
          if (parse_body(last, {"endif"}, depth + 1).empty()) fail_parse(origin, line, "'if' is not closed by 'endif'");
          ++pos;
          st.branches.emplace_back(nullptr, std::move(last));
          break;
        }
        cond_text = tag_rest();  // elif
        if (keyword(cond_text).first.empty()) fail_parse(origin, segs[pos - 1].line, "'elif' needs a condition");
      }
      return st;
    }
    if (kw == "for") {
      stmt st{sk::for_, line};
      auto p = lex(rest);
      do st.targets.push_back(p.expect_name());
      while (p.accept_op(","));
      if (!p.accept_name("in")) p.fail("expected 'in' in a for loop");
      st.e = p.parse_without_ternary();
      if (p.accept_name("if")) st.filter = p.parse_expression();
      if (p.accept_name("recursive")) p.fail("recursive loops are not supported");
      if (!p.at_end()) p.fail("unexpected '" + p.peek().text + "' in a for loop");
      std::string stop = parse_body(st.body, {"else", "endfor"}, depth + 1);
      if (stop.empty()) fail_parse(origin, line, "'for' is not closed by 'endfor'");
      ++pos;
      if (stop == "else") {
        if (parse_body(st.otherwise, {"endfor"}, depth + 1).empty())
          fail_parse(origin, line, "'for' is not closed by 'endfor'");
        ++pos;
      }
      return st;
    }
    if (kw == "set") {
      auto p = lex(rest);
      std::string first = p.expect_name();
      if (p.accept_op(".")) {
        stmt st{sk::set_attr, line};
        st.targets.push_back(first);
        st.attr = p.expect_name();
        p.expect_op("=");
        st.e = p.parse_all();
        return st;
      }
      stmt st{sk::set, line};
      st.targets.push_back(first);
      while (p.accept_op(",")) st.targets.push_back(p.expect_name());
      if (p.at_end()) p.fail("block assignments ('set' without '=') are not supported");
      p.expect_op("=");
      st.e = p.parse_all();
      return st;
    }
    if (kw == "generation") {  // transformers' assistant-mask marker: its body renders as is
      stmt st{sk::if_, line};
      std::vector<stmt> body;
      if (parse_body(body, {"endgeneration"}, depth + 1).empty())
        fail_parse(origin, line, "'generation' is not closed by 'endgeneration'");
      ++pos;
      auto always = std::make_unique<expr>();
      always->kind = ek::literal;
      always->literal = true;
      st.branches.emplace_back(std::move(always), std::move(body));
      return st;
    }
    if (kw == "break" || kw == "continue") return stmt{kw == "break" ? sk::break_ : sk::continue_, line};
    fail_parse(origin, line, kw.empty() ? "an empty block tag" : "the statement '" + kw + "' is not supported");
  }
};

// ---------------------------------------------------------------------------------------------
// Evaluation.

struct loop_control {
  enum kind_t { none, break_, continue_ } kind = none;
};

[[noreturn]] void fail_render(int line, const std::string& what) {
  throw failure(errc::invalid_argument, "chat template line " + std::to_string(line) + ": " + what);
}

const char* type_name(const value& x) {
  if (x.undefined) return "undefined";
  switch (x.v.type()) {
    case ojson::value_t::null: return "none";
    case ojson::value_t::boolean: return "bool";
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned: return "int";
    case ojson::value_t::number_float: return "float";
    case ojson::value_t::string: return "string";
    case ojson::value_t::array: return "list";
    case ojson::value_t::object: return "dict";
    default: return "value";
  }
}

bool is_int(const ojson& v) { return v.is_number_integer() || v.is_number_unsigned(); }

std::string strip_chars(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  if (right) while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  return s.substr(b, e - b);
}

const std::string kWhitespace = " \t\n\r\f\v";

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  std::string r;
  size_t i = 0;
  for (size_t at; (at = s.find(from, i)) != std::string::npos; i = at + from.size()) r += s.substr(i, at - i) + to;
  return r + s.substr(i);
}

std::string change_case(std::string s, bool upper) {
  for (char& c : s)
    c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
  return s;
}

ojson python_split(const std::string& s, const value& sep, int64_t maxsplit, bool from_right) {
  ojson out = ojson::array();
  if (sep.undefined || sep.v.is_null()) {  // runs of whitespace, no empty pieces
    std::vector<std::string> words;
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && kWhitespace.find(s[i]) != std::string::npos) ++i;
      if (i >= s.size()) break;
      size_t j = i;
      while (j < s.size() && kWhitespace.find(s[j]) == std::string::npos) ++j;
      words.push_back(s.substr(i, j - i));
      i = j;
    }
    for (auto& w : words) out.push_back(w);
    return out;
  }
  const std::string d = sep.v.get<std::string>();
  if (d.empty()) throw failure(errc::invalid_argument, "empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t from = 0;
    for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
      const size_t at = s.find(d, from);
      if (at == std::string::npos) break;
      parts.push_back(s.substr(from, at - from));
      from = at + d.size();
    }
    parts.push_back(s.substr(from));
  } else {
    size_t to = s.size();
    for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
      if (to < d.size()) break;
      const size_t at = s.rfind(d, to - d.size());
      if (at == std::string::npos) break;
      parts.insert(parts.begin(), s.substr(at + d.size(), to - at - d.size()));
      to = at;
    }
    parts.insert(parts.begin(), s.substr(0, to));
  }
  for (auto& p : parts) out.push_back(p);
  return out;
}

bool values_equal(const value& a, const value& b) {
  if (a.undefined || b.undefined) return a.undefined && b.undefined;
  if (a.v.is_number() && b.v.is_number() && !a.v.is_boolean() && !b.v.is_boolean())
    return a.v.get<double>() == b.v.get<double>();
  return a.v == b.v;
}

class renderer {
 public:
  renderer(const ojson& variables) {
    scopes_.emplace_back();
    for (const auto& [k, v] : variables.items()) scopes_.back()[k] = value{v};
  }

  void run(const std::vector<stmt>& body) {
    loop_control lc;
    exec(body, lc, 0);
  }
  std::string out;

 private:
  using scope = std::map<std::string, value>;
  std::vector<scope> scopes_;
  int64_t iterations_ = 0;

  value* lookup(const std::string& n) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(n);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }

  void emit(const std::string& s, int line) {
    out += s;
    if (out.size() > kMaxOutput) fail_render(line, "the rendered prompt passes " + std::to_string(kMaxOutput) + " bytes");
  }

  void exec(const std::vector<stmt>& body, loop_control& lc, int depth) {
    for (const auto& st : body) {
      if (lc.kind != loop_control::none) return;
      switch (st.kind) {
        case sk::text: emit(st.text, st.line); break;
        case sk::output: emit(python_str(eval(*st.e)), st.line); break;
        case sk::if_:
          for (const auto& [cond, branch] : st.branches)
            if (!cond || truthy(eval(*cond))) {
              exec(branch, lc, depth + 1);
              break;
            }
          break;
        case sk::for_: run_for(st, lc, depth); break;
        case sk::set: {
          value v = eval(*st.e);
          if (st.targets.size() == 1) {
            scopes_.back()[st.targets[0]] = std::move(v);
          } else {
            if (!v.v.is_array() || v.v.size() != st.targets.size())
              fail_render(st.line, "cannot unpack into " + std::to_string(st.targets.size()) + " names");
            for (size_t i = 0; i < st.targets.size(); ++i) scopes_.back()[st.targets[i]] = value{v.v[i]};
          }
          break;
        }
        case sk::set_attr: {
          value* ns = lookup(st.targets[0]);
          if (!ns || ns->undefined || !ns->v.is_object())
            fail_render(st.line, "'" + st.targets[0] + "' is not a namespace: its attributes cannot be set");
          ns->v[st.attr] = eval(*st.e).v;
          break;
        }
        case sk::break_: lc.kind = loop_control::break_; return;
        case sk::continue_: lc.kind = loop_control::continue_; return;
      }
    }
  }

  void run_for(const stmt& st, loop_control& outer, int depth) {
    const value seq = eval(*st.e);
    std::vector<ojson> items;
    if (seq.undefined || seq.v.is_null()) {
      if (seq.undefined) {}  // iterating undefined is empty, as jinja2's Undefined
    } else if (seq.v.is_array()) {
      items.assign(seq.v.begin(), seq.v.end());
    } else if (seq.v.is_object()) {
      for (const auto& [k, v] : seq.v.items()) items.push_back(k);
    } else if (seq.v.is_string()) {
      for (char c : seq.v.get<std::string>()) items.push_back(std::string(1, c));
    } else {
      fail_render(st.line, std::string("cannot loop over a ") + type_name(seq));
    }
    scopes_.emplace_back();
    auto bind = [&](const ojson& item) {
      if (st.targets.size() == 1) {
        scopes_.back()[st.targets[0]] = value{item};
        return;
      }
      if (!item.is_array() || item.size() != st.targets.size())
        fail_render(st.line, "cannot unpack a loop item into " + std::to_string(st.targets.size()) + " names");
      for (size_t i = 0; i < st.targets.size(); ++i) scopes_.back()[st.targets[i]] = value{item[i]};
    };
    if (st.filter) {  // `for x in xs if cond`: the loop counts only the items that pass
      std::vector<ojson> kept;
      for (const auto& item : items) {
        bind(item);
        if (truthy(eval(*st.filter))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      if (++iterations_ > kMaxIterations) fail_render(st.line, "the template loops too long");
      bind(items[static_cast<size_t>(i)]);
      scopes_.back()["loop"] = value{ojson{{"index", i + 1}, {"index0", i}, {"revindex", n - i}, {"revindex0", n - i - 1},
                                          {"first", i == 0}, {"last", i == n - 1}, {"length", n}}};
      loop_control lc;
      exec(st.body, lc, depth + 1);
      if (lc.kind == loop_control::break_) break;
    }
    scopes_.pop_back();
    if (n == 0 && !st.otherwise.empty()) exec(st.otherwise, outer, depth + 1);
  }

  value attribute(const value& obj, const std::string& name) {
    if (obj.undefined || !obj.v.is_object()) return value::undef();
    auto it = obj.v.find(name);
    if (it == obj.v.end()) return value::undef();
    return value{*it};
  }

  value subscript(const value& obj, const value& key, int line) {
    if (obj.undefined) return value::undef();
    if (obj.v.is_object()) {
      if (!key.v.is_string()) return value::undef();
      return attribute(obj, key.v.get<std::string>());
    }
    if (obj.v.is_array() || obj.v.is_string()) {
      if (!is_int(key.v)) fail_render(line, "an index must be an integer");
      const int64_t size = obj.v.is_array() ? static_cast<int64_t>(obj.v.size())
                                            : static_cast<int64_t>(obj.v.get_ref<const std::string&>().size());
      int64_t i = key.v.get<int64_t>();
      if (i < 0) i += size;
      if (i < 0 || i >= size) return value::undef();
      if (obj.v.is_array()) return value{obj.v[static_cast<size_t>(i)]};
      return value{std::string(1, obj.v.get_ref<const std::string&>()[static_cast<size_t>(i)])};
    }
    return value::undef();
  }

  value slice(const expr& e) {
    const value obj = eval(*e.args[0]);
    auto bound = [&](size_t k, bool& given) -> int64_t {
      given = e.args[k] != nullptr;
      if (!given) return 0;
      const value v = eval(*e.args[k]);
      if (v.v.is_null()) { given = false; return 0; }
      if (!is_int(v.v)) fail_render(e.line, "slice bounds must be integers");
      return v.v.get<int64_t>();
    };
    bool has_start, has_stop, has_step;
    const int64_t start0 = bound(1, has_start), stop0 = bound(2, has_stop);
    int64_t step = bound(3, has_step);
    if (!has_step) step = 1;
    if (step == 0) fail_render(e.line, "a slice step cannot be zero");
    const bool text = obj.v.is_string();
    if (!text && !obj.v.is_array()) fail_render(e.line, std::string("cannot slice a ") + type_name(obj));
    const int64_t n = text ? static_cast<int64_t>(obj.v.get_ref<const std::string&>().size())
                           : static_cast<int64_t>(obj.v.size());
    auto clamp = [&](int64_t i, bool given, int64_t dflt) {  // Python's slice.indices
      if (!given) return dflt;
      if (i < 0) i += n;
      if (step > 0) return std::clamp<int64_t>(i, 0, n);
      return std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t start = clamp(start0, has_start, step > 0 ? 0 : n - 1);
    const int64_t stop = clamp(stop0, has_stop, step > 0 ? n : -1);
    ojson out = text ? ojson(std::string()) : ojson::array();
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (text) out.get_ref<std::string&>() += obj.v.get_ref<const std::string&>()[static_cast<size_t>(i)];
      else out.push_back(obj.v[static_cast<size_t>(i)]);
    }
    return value{out};
  }

  std::vector<value> eval_args(const expr& e, size_t from) {
    std::vector<value> out;
    for (size_t i = from; i < e.args.size(); ++i) out.push_back(eval(*e.args[i]));
    return out;
  }
  const expr* kwarg(const expr& e, const std::string& name) {
    for (const auto& [k, v] : e.kwargs)
      if (k == name) return v.get();
    return nullptr;
  }

  static std::string need_string(const value& v, int line, const char* what) {
    if (!v.v.is_string() || v.undefined) fail_render(line, std::string(what) + " needs a string, not a " + type_name(v));
    return v.v.get<std::string>();
  }

  value call(const expr& e) {
    if (e.name == "namespace") {
      ojson ns = ojson::object();
      for (const auto& [k, v] : e.kwargs) ns[k] = eval(*v).v;
      return value{ns};
    }
    if (e.name == "raise_exception") {
      const auto args = eval_args(e, 0);
      fail_render(e.line, args.empty() ? "raise_exception" : python_str(args[0]));
    }
    if (e.name == "range") {
      const auto args = eval_args(e, 0);
      int64_t a = 0, b = 0, step = 1;
      for (const auto& x : args)
        if (!is_int(x.v)) fail_render(e.line, "range() takes integers");
      if (args.size() == 1) b = args[0].v.get<int64_t>();
      else if (args.size() >= 2) a = args[0].v.get<int64_t>(), b = args[1].v.get<int64_t>();
      if (args.size() == 3) step = args[2].v.get<int64_t>();
      if (args.empty() || args.size() > 3 || step == 0) fail_render(e.line, "range() takes 1 to 3 arguments, step not 0");
      ojson out = ojson::array();
      for (int64_t i = a; step > 0 ? i < b : i > b; i += step) {
        out.push_back(i);
        if (out.size() > static_cast<size_t>(kMaxIterations)) fail_render(e.line, "range() is too long");
      }
      return value{out};
    }
    // A method: the object is args[0].
    const value obj = eval(*e.args[0]);
    const auto args = eval_args(e, 1);
    const std::string& m = e.name;
    if (obj.v.is_object() && !obj.undefined) {
      if (m == "get") {
        if (args.empty()) fail_render(e.line, "get() needs a key");
        const value v = args[0].v.is_string() ? attribute(obj, args[0].v.get<std::string>()) : value::undef();
        return v.undefined ? (args.size() > 1 ? args[1] : value{ojson()}) : v;
      }
      if (m == "items") {
        ojson out = ojson::array();
        for (const auto& [k, v] : obj.v.items()) out.push_back(ojson::array({k, v}));
        return value{out};
      }
      if (m == "keys" || m == "values") {
        ojson out = ojson::array();
        for (const auto& [k, v] : obj.v.items()) out.push_back(m == "keys" ? ojson(k) : v);
        return value{out};
      }
    }
    if (obj.v.is_string() && !obj.undefined) {
      const std::string& s = obj.v.get_ref<const std::string&>();
      auto arg_string = [&](size_t i) { return need_string(args[i], e.line, m.c_str()); };
      if (m == "startswith" || m == "endswith") {
        if (args.size() != 1) fail_render(e.line, m + "() takes one argument");
        std::vector<std::string> options;
        if (args[0].v.is_array()) {
          for (const auto& x : args[0].v) options.push_back(need_string(value{x}, e.line, m.c_str()));
        } else {
          options.push_back(arg_string(0));
        }
        for (const auto& p : options)
          if (m == "startswith" ? s.rfind(p, 0) == 0 : s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0)
            return value{true};
        return value{false};
      }
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        const std::string chars = args.empty() || args[0].v.is_null() ? kWhitespace : arg_string(0);
        return value{strip_chars(s, chars, m != "rstrip", m != "lstrip")};
      }
      if (m == "split" || m == "rsplit") {
        const value sep = args.empty() ? value{ojson()} : args[0];
        int64_t maxsplit = -1;
        if (args.size() > 1) {
          if (!is_int(args[1].v)) fail_render(e.line, "maxsplit must be an integer");
          maxsplit = args[1].v.get<int64_t>();
        }
        if (const expr* k = kwarg(e, "maxsplit")) maxsplit = eval(*k).v.get<int64_t>();
        if (!sep.v.is_null() && !sep.v.is_string()) fail_render(e.line, "split() takes a string separator");
        if (sep.v.is_string() && sep.v.get<std::string>().empty()) fail_render(e.line, "split() got an empty separator");
        return value{python_split(s, sep, maxsplit, m == "rsplit")};
      }
      if (m == "upper" || m == "lower") return value{change_case(s, m == "upper")};
      if (m == "replace") {
        if (args.size() < 2) fail_render(e.line, "replace() takes two arguments");
        const std::string from = arg_string(0), to = arg_string(1);
        if (from.empty()) fail_render(e.line, "replace() of an empty string is not supported");
        return value{replace_all(s, from, to)};
      }
      if (m == "title" || m == "capitalize") return filter_text(m, s);
    }
    fail_render(e.line, "a " + std::string(type_name(obj)) + " has no method " + m + "()");
  }

  static value filter_text(const std::string& f, const std::string& s) {
    std::string r = s;
    bool start = true;
    for (char& c : r) {
      const auto u = static_cast<unsigned char>(c);
      if (f == "capitalize") c = static_cast<char>(start ? std::toupper(u) : std::tolower(u)), start = false;
      else {
        c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
        start = !std::isalpha(u);
      }
    }
    return value{r};
  }

  value filter(const expr& e) {
    const value x = eval(*e.args[0]);
    const auto args = eval_args(e, 1);
    const std::string& f = e.name;
    if (f == "default" || f == "d") {
      const bool boolean = args.size() > 1 && truthy(args[1]);
      if (x.undefined || (boolean && !truthy(x))) return args.empty() ? value{std::string()} : args[0];
      return x;
    }
    if (f == "safe") return x;
    if (f == "length" || f == "count") {
      if (x.undefined) return value{0};
      if (x.v.is_string()) return value{static_cast<int64_t>(x.v.get_ref<const std::string&>().size())};
      if (x.v.is_array() || x.v.is_object()) return value{static_cast<int64_t>(x.v.size())};
      fail_render(e.line, std::string("a ") + type_name(x) + " has no length");
    }
    if (f == "tojson") {
      int indent = -1;
      const expr* k = kwarg(e, "indent");
      const value iv = k ? eval(*k) : args.empty() ? value{ojson()} : args[0];
      if (is_int(iv.v)) indent = static_cast<int>(std::clamp<int64_t>(iv.v.get<int64_t>(), 0, 16));
      return value{python_json(x.undefined ? ojson() : x.v, indent)};
    }
    if (f == "string") return value{python_str(x)};
    if (f == "trim") {
      const std::string chars = args.empty() ? kWhitespace : need_string(args[0], e.line, "trim");
      return value{strip_chars(python_str(x), chars, true, true)};
    }
    if (f == "lower" || f == "upper") return value{change_case(python_str(x), f == "upper")};
    if (f == "capitalize" || f == "title") return filter_text(f, python_str(x));
    if (f == "first" || f == "last") {
      if (x.v.is_array()) return x.v.empty() ? value::undef() : value{f == "first" ? x.v.front() : x.v.back()};
      if (x.v.is_string()) {
        const auto& s = x.v.get_ref<const std::string&>();
        return s.empty() ? value::undef() : value{std::string(1, f == "first" ? s.front() : s.back())};
      }
      fail_render(e.line, std::string("a ") + type_name(x) + " has no " + f + " item");
    }
    if (f == "join") {
      const std::string sep = args.empty() ? "" : need_string(args[0], e.line, "join");
      if (!x.v.is_array()) fail_render(e.line, std::string("join needs a list, not a ") + type_name(x));
      std::string r;
      for (size_t i = 0; i < x.v.size(); ++i) r += (i ? sep : "") + python_str(value{x.v[i]});
      return value{r};
    }
    if (f == "list") {
      if (x.v.is_array()) return x;
      ojson out = ojson::array();
      if (x.v.is_string())
        for (char c : x.v.get<std::string>()) out.push_back(std::string(1, c));
      else if (x.v.is_object())
        for (const auto& [k, v] : x.v.items()) out.push_back(k);
      else if (!x.undefined) fail_render(e.line, std::string("cannot make a list of a ") + type_name(x));
      return value{out};
    }
    if (f == "items") {
      if (!x.v.is_object()) fail_render(e.line, std::string("items needs a dict, not a ") + type_name(x));
      ojson out = ojson::array();
      for (const auto& [k, v] : x.v.items()) out.push_back(ojson::array({k, v}));
      return value{out};
    }
    if (f == "reverse") {
      if (x.v.is_string()) {
        std::string r = x.v.get<std::string>();
        std::reverse(r.begin(), r.end());
        return value{r};
      }
      if (!x.v.is_array()) fail_render(e.line, std::string("cannot reverse a ") + type_name(x));
      ojson out = ojson::array();
      for (auto it = x.v.rbegin(); it != x.v.rend(); ++it) out.push_back(*it);
      return value{out};
    }
    if (f == "int" || f == "float" || f == "abs") {
      double d = 0;
      if (x.v.is_number()) d = x.v.get<double>();
      else if (x.v.is_string()) d = std::strtod(x.v.get<std::string>().c_str(), nullptr);
      if (f == "abs") {
        if (is_int(x.v)) return value{std::llabs(x.v.get<int64_t>())};
        return value{std::fabs(d)};
      }
      if (f == "int") return value{static_cast<int64_t>(d)};
      return value{d};
    }
    if (f == "replace") {
      if (args.size() < 2) fail_render(e.line, "replace takes two arguments");
      const std::string from = need_string(args[0], e.line, "replace");
      if (from.empty()) fail_render(e.line, "replace of an empty string is not supported");
      return value{replace_all(python_str(x), from, need_string(args[1], e.line, "replace"))};
    }
    fail_render(e.line, "the filter '" + f + "'");
  }

  bool test(const expr& e) {
    const value x = eval(*e.args[0]);
    const std::string& t = e.name;
    const ojson& v = x.v;
    if (t == "defined") return !x.undefined;
    if (t == "undefined") return x.undefined;
    if (x.undefined) return false;
    if (t == "none") return v.is_null();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return is_int(v);
    if (t == "float") return v.is_number_float();
    if (t == "mapping") return v.is_object();
    if (t == "iterable") return v.is_array() || v.is_object() || v.is_string();
    if (t == "sequence") return v.is_array() || v.is_object() || v.is_string();
    if (t == "boolean") return v.is_boolean();
    if (t == "true") return v.is_boolean() && v.get<bool>();
    if (t == "false") return v.is_boolean() && !v.get<bool>();
    if (t == "odd" || t == "even") {
      if (!is_int(v)) fail_render(e.line, "odd/even need an integer");
      return (v.get<int64_t>() % 2 != 0) == (t == "odd");
    }
    fail_render(e.line, "the test '" + t + "'");
  }

  value binary(const expr& e) {
    const std::string& op = e.name;
    const value a = eval(*e.args[0]), b = eval(*e.args[1]);
    if (op == "==") return value{values_equal(a, b)};
    if (op == "!=") return value{!values_equal(a, b)};
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.v.is_string() && a.v.is_string())
        found = b.v.get_ref<const std::string&>().find(a.v.get_ref<const std::string&>()) != std::string::npos;
      else if (b.v.is_array())
        found = std::any_of(b.v.begin(), b.v.end(), [&](const ojson& x) { return values_equal(value{x}, a); });
      else if (b.v.is_object())
        found = a.v.is_string() && b.v.contains(a.v.get<std::string>());
      else if (!b.undefined)
        fail_render(e.line, std::string("'in' needs a string, list or dict on its right, not a ") + type_name(b));
      else
        fail_render(e.line, "'in' of an undefined value");
      return value{op == "in" ? found : !found};
    }
    if (op == "~") return value{python_str(a) + python_str(b)};
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (a.v.is_number() && b.v.is_number()) {
        const double x = a.v.get<double>(), y = b.v.get<double>();
        c = x < y ? -1 : x > y ? 1 : 0;
      } else if (a.v.is_string() && b.v.is_string()) {
        c = a.v.get_ref<const std::string&>().compare(b.v.get_ref<const std::string&>());
      } else {
        fail_render(e.line, std::string("cannot compare a ") + type_name(a) + " with a " + type_name(b));
      }
      const bool r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
      return value{r};
    }
    if (op == "+") {
      if (a.v.is_string() && b.v.is_string() && !a.undefined && !b.undefined)
        return value{a.v.get<std::string>() + b.v.get<std::string>()};
      if (a.v.is_array() && b.v.is_array()) {
        ojson out = a.v;
        for (const auto& x : b.v) out.push_back(x);
        return value{out};
      }
    }
    if (a.undefined || b.undefined || !a.v.is_number() || !b.v.is_number() || a.v.is_boolean() || b.v.is_boolean())
      fail_render(e.line, std::string("unsupported operand types for ") + op + ": " + type_name(a) + " and " + type_name(b));
    if (is_int(a.v) && is_int(b.v) && op != "/") {
      const int64_t x = a.v.get<int64_t>(), y = b.v.get<int64_t>();
      if (op == "+") return value{x + y};
      if (op == "-") return value{x - y};
      if (op == "*") return value{x * y};
      if (y == 0) fail_render(e.line, "division by zero");
      if (op == "//") return value{x / y - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0)};
      if (op == "%") return value{((x % y) + y) % y};
    }
    const double x = a.v.get<double>(), y = b.v.get<double>();
    if (op == "+") return value{x + y};
    if (op == "-") return value{x - y};
    if (op == "*") return value{x * y};
    if (y == 0) fail_render(e.line, "division by zero");
    if (op == "/") return value{x / y};
    if (op == "//") return value{std::floor(x / y)};
    return value{x - y * std::floor(x / y)};
  }

  value eval(const expr& e) {
    switch (e.kind) {
      case ek::literal: return value{e.literal};
      case ek::name: {
        if (const value* v = lookup(e.name)) return *v;
        return value::undef();
      }
      case ek::attr: return attribute(eval(*e.args[0]), e.name);
      case ek::index: return subscript(eval(*e.args[0]), eval(*e.args[1]), e.line);
      case ek::slice: return slice(e);
      case ek::call: return call(e);
      case ek::filter: return filter(e);
      case ek::test: return value{test(e) != e.negate};
      case ek::unary_not: return value{!truthy(eval(*e.args[0]))};
      case ek::unary_minus: {
        const value x = eval(*e.args[0]);
        if (is_int(x.v)) return value{-x.v.get<int64_t>()};
        if (x.v.is_number_float()) return value{-x.v.get<double>()};
        fail_render(e.line, std::string("cannot negate a ") + type_name(x));
      }
      case ek::binary: return binary(e);
      case ek::both: {
        value a = eval(*e.args[0]);
        return truthy(a) ? eval(*e.args[1]) : a;
      }
      case ek::either: {
        value a = eval(*e.args[0]);
        return truthy(a) ? a : eval(*e.args[1]);
      }
      case ek::ternary: return truthy(eval(*e.args[0])) ? eval(*e.args[1]) : eval(*e.args[2]);
      case ek::list:
      case ek::tuple: {
        ojson out = ojson::array();
        for (const auto& a : e.args) out.push_back(eval(*a).v);
        return value{out};
      }
      case ek::dict: {
        ojson out = ojson::object();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) out[python_str(eval(*e.args[i]))] = eval(*e.args[i + 1]).v;
        return value{out};
      }
    }
    fail_render(e.line, "an unknown expression");
  }
};

}  // namespace

std::string python_json(const ojson& v, int indent) {
  std::string out;
  python_json_to(out, v, indent, 0);
  return out;
}

struct chat_template::program {
  std::string source;
  std::vector<stmt> body;
};

chat_template::chat_template(std::unique_ptr<program> p) : p_(std::move(p)) {}
chat_template::chat_template(chat_template&&) noexcept = default;
chat_template& chat_template::operator=(chat_template&&) noexcept = default;
chat_template::~chat_template() = default;

chat_template chat_template::parse(const std::string& source, const std::string& origin) {
  if (source.size() > (1 << 20)) throw failure(errc::bad_config, origin + ": the chat template is larger than 1 MiB");
  auto p = std::make_unique<program>();
  p->source = source;
  const auto segs = split_source(source, origin);
  program_parser pp{segs, origin};
  const std::string stop = pp.parse_body(p->body, {"endif", "endfor", "elif", "else", "endgeneration"}, 0);
  if (!stop.empty()) fail_parse(origin, segs[pp.pos].line, "'" + stop + "' without its opening statement");
  return chat_template(std::move(p));
}

chat_template chat_template::house() {
  return parse(
      "{%- for message in messages %}{{ '<|' + message.role + '|>\\n' + message.content + '\\n' }}{%- endfor %}"
      "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{%- endif %}",
      "the house chat template");
}

std::string chat_template::render(const ojson& variables) const {
  renderer r(variables);
  r.run(p_->body);
  return std::move(r.out);
}

const std::string& chat_template::source() const { return p_->source; }

}  // namespace prfaas::text
