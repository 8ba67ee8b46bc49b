#include "runtime/text/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>

#include "runtime/common/errc.h"

namespace prfaas::text {

using json = nlohmann::json;

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// Length of the UTF-8 sequence at s[i] when it is well formed (1-4), else the length of its
// maximal invalid subpart (>= 1) negated: one U+FFFD replaces that many bytes, as Python's and
// Rust's lossy decoders do.
int utf8_sequence(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
  else if (b0 == 0xe0) { need = 2; lo = 0xa0; }
  else if (b0 >= 0xe1 && b0 <= 0xec) need = 2;
  else if (b0 == 0xed) { need = 2; hi = 0x9f; }
  else if (b0 >= 0xee && b0 <= 0xef) need = 2;
  else if (b0 == 0xf0) { need = 3; lo = 0x90; }
  else if (b0 >= 0xf1 && b0 <= 0xf3) need = 3;
  else if (b0 == 0xf4) { need = 3; hi = 0x8f; }
  else return -1;
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return -k;
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < lo || b > hi) return -k;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

bool ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// `text` as valid UTF-8: each maximal invalid subpart becomes U+FFFD.
std::string lossy_utf8(std::string_view text) {
  if (ascii(text)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const int n = utf8_sequence(text, i);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      i += -n;
    }
  }
  return out;
}

// Whether NFC could change `s` (valid UTF-8): some code point combines (a non-zero combining
// class, a member of a composition pair, a Hangul jamo) or has a canonical decomposition.
// Otherwise the text is its own normal form and the normaliser's cost is skipped: most text.
bool may_change_under_nfc(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) return true;
    i += static_cast<size_t>(n);
    if (cp < 0x300) continue;  // Latin-1 and Latin Extended: NFC as they stand, none combines
    if (cp >= 0x1100 && cp <= 0x11ff) return true;  // Hangul jamo compose algorithmically
    const auto* p = utf8proc_get_property(cp);
    if (p->combining_class != 0 || p->comb_index != UINT16_MAX || p->comp_exclusion ||
        (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0))
      return true;
  }
  return false;
}

std::string nfc(const std::string& s) {
  if (!may_change_under_nfc(s)) return s;
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
                              &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw failure(errc::internal, std::string("NFC: ") + utf8proc_errmsg(n));
  std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return r;
}

}  // namespace

struct bpe_tokenizer::impl {
  std::unordered_map<std::string, int32_t> vocab;         // token (byte-level alphabet) -> id
  std::vector<std::string> bytes_of;                      // id -> the bytes it stands for
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (left, right) -> (rank, merged)
  std::array<int32_t, 256> byte_id{};                     // a byte's own token
  struct added {
    std::string content;
    int32_t id;
    bool special;
  };
  std::vector<added> added_tokens;  // longest first, so a match prefers the longest
  std::vector<bool> special;        // by id
  bool nfc = false;
  pcre2_code* regex = nullptr;
  ~impl() {
    if (regex) pcre2_code_free(regex);
  }
};

bpe_tokenizer::bpe_tokenizer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
bpe_tokenizer::~bpe_tokenizer() = default;
bpe_tokenizer::bpe_tokenizer(bpe_tokenizer&&) noexcept = default;
bpe_tokenizer& bpe_tokenizer::operator=(bpe_tokenizer&&) noexcept = default;

bpe_tokenizer bpe_tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_config(path, "cannot read");
  std::stringstream s;
  s << in.rdbuf();
  return parse(s.str(), path);
}

bpe_tokenizer bpe_tokenizer::parse(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail_config(source, std::string("not valid JSON: ") + e.what());
  }
  auto p = std::make_unique<impl>();
  auto type_of = [](const json& node) { return node.is_object() && node.contains("type") ? node["type"].get<std::string>() : std::string(); };
  try {
    // The normalizer: none or NFC.
    const json& norm = j.value("normalizer", json());
    if (!norm.is_null()) {
      if (type_of(norm) != "NFC") fail_config(source, "unsupported normalizer " + norm.dump().substr(0, 80) + " (NFC or none)");
      p->nfc = true;
    }
    // The pre-tokenizer: a Split on one regex (Isolated) then ByteLevel without its own regex,
    // or ByteLevel with the GPT-2 regex.
    const json& pre = j.at("pre_tokenizer");
    std::string pattern;
    auto byte_level = [&](const json& b) {
      if (b.value("add_prefix_space", false)) fail_config(source, "unsupported ByteLevel add_prefix_space = true");
      if (b.value("use_regex", true))
        pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    };
    if (type_of(pre) == "Sequence") {
      for (const auto& step : pre.at("pretokenizers")) {
        const auto t = type_of(step);
        if (t == "Split") {
          if (step.value("behavior", "") != "Isolated" || step.value("invert", false))
            fail_config(source, "unsupported Split behaviour (Isolated, not inverted)");
          if (!step.at("pattern").contains("Regex")) fail_config(source, "unsupported Split pattern (a Regex)");
          pattern = step["pattern"]["Regex"].get<std::string>();
        } else if (t == "ByteLevel") {
          byte_level(step);
        } else {
          fail_config(source, "unsupported pre-tokenizer " + t);
        }
      }
    } else if (type_of(pre) == "ByteLevel") {
      byte_level(pre);
    } else {
      fail_config(source, "unsupported pre-tokenizer " + type_of(pre));
    }
    if (pattern.empty()) fail_config(source, "the pre-tokenizer has no regex");
    const json& dec = j.value("decoder", json());
    if (!dec.is_null() && type_of(dec) != "ByteLevel") fail_config(source, "unsupported decoder " + type_of(dec));
    // The model: byte-level BPE.
    const json& m = j.at("model");
    if (type_of(m) != "BPE") fail_config(source, "unsupported model type " + type_of(m) + " (BPE)");
    if (!m.value("dropout", json()).is_null()) fail_config(source, "unsupported BPE dropout");
    if (m.value("byte_fallback", false)) fail_config(source, "unsupported BPE byte_fallback");
    if (m.value("ignore_merges", false)) fail_config(source, "unsupported BPE ignore_merges");
    if (!m.value("continuing_subword_prefix", json("")).get<std::string>().empty() ||
        !m.value("end_of_word_suffix", json("")).get<std::string>().empty())
      fail_config(source, "unsupported BPE subword prefix or suffix");
    // The byte-level alphabet: printable bytes stand for themselves, the rest for 256 + n.
    std::array<std::string, 256> byte_char;
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      const bool own = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      append_utf8(byte_char[b], own ? b : 256 + shifted++);
    }
    std::unordered_map<std::string, uint8_t> char_byte;
    for (int b = 0; b < 256; ++b) char_byte[byte_char[b]] = static_cast<uint8_t>(b);
    int32_t max_id = -1;
    for (const auto& [token, id] : m.at("vocab").items()) {
      p->vocab.emplace(token, id.get<int32_t>());
      max_id = std::max(max_id, id.get<int32_t>());
    }
    for (const auto& a : j.value("added_tokens", json::array())) max_id = std::max(max_id, a.at("id").get<int32_t>());
    if (max_id < 0 || max_id >= (1 << 24)) fail_config(source, "vocabulary ids outside 0..16777215");
    p->bytes_of.assign(static_cast<size_t>(max_id) + 1, std::string());
    p->special.assign(static_cast<size_t>(max_id) + 1, false);
    for (const auto& [token, id] : p->vocab) {
      std::string bytes;
      for (size_t i = 0; i < token.size();) {
        const int n = utf8_sequence(token, i);
        const auto it = n > 0 ? char_byte.find(token.substr(i, n)) : char_byte.end();
        if (it == char_byte.end()) fail_config(source, "vocabulary token \"" + token + "\" is outside the byte-level alphabet");
        bytes.push_back(static_cast<char>(it->second));
        i += n;
      }
      p->bytes_of[id] = std::move(bytes);
    }
    for (int b = 0; b < 256; ++b) {
      const auto it = p->vocab.find(byte_char[b]);
      if (it == p->vocab.end()) fail_config(source, "the vocabulary lacks byte " + std::to_string(b));
      p->byte_id[b] = it->second;
    }
    int32_t rank = 0;
    for (const auto& merge : m.at("merges")) {
      std::string a, b;
      if (merge.is_array() && merge.size() == 2) {
        a = merge[0].get<std::string>();
        b = merge[1].get<std::string>();
      } else {
        const auto s = merge.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos) fail_config(source, "merge \"" + s + "\" is not two tokens");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      }
      const auto ia = p->vocab.find(a), ib = p->vocab.find(b), ic = p->vocab.find(a + b);
      if (ia == p->vocab.end() || ib == p->vocab.end() || ic == p->vocab.end())
        fail_config(source, "merge \"" + a + " " + b + "\" names a token outside the vocabulary");
      const uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
      p->merges.emplace(key, std::make_pair(rank++, ic->second));
    }
    for (const auto& a : j.value("added_tokens", json::array())) {
      for (const char* flag : {"single_word", "lstrip", "rstrip"})
        if (a.value(flag, false)) fail_config(source, std::string("unsupported added-token option ") + flag + " on " + a.at("content").get<std::string>());
      if (a.value("normalized", false) && p->nfc)
        fail_config(source, "unsupported normalized added token " + a.at("content").get<std::string>());
      impl::added t{a.at("content").get<std::string>(), a.at("id").get<int32_t>(), a.value("special", false)};
      if (t.content.empty()) fail_config(source, "an added token is empty");
      p->bytes_of[t.id] = t.content;
      p->special[t.id] = t.special;
      p->added_tokens.push_back(std::move(t));
    }
    std::sort(p->added_tokens.begin(), p->added_tokens.end(),
              [](const impl::added& x, const impl::added& y) { return x.content.size() > y.content.size(); });
    int err = 0;
    PCRE2_SIZE offset = 0;
    p->regex = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                             &err, &offset, nullptr);
    if (!p->regex) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail_config(source, "the pre-tokenizer's regex does not compile at " + std::to_string(offset) + ": " +
                      reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(p->regex, PCRE2_JIT_COMPLETE);  // the interpreter serves where JIT is missing
  } catch (const json::exception& e) {
    fail_config(source, std::string("tokenizer.json: ") + e.what());
  }
  return bpe_tokenizer(std::move(p));
}

int bpe_tokenizer::vocab_size() const { return static_cast<int>(impl_->bytes_of.size()); }

std::optional<int32_t> bpe_tokenizer::id_of(std::string_view token) const {
  for (const auto& a : impl_->added_tokens)
    if (a.content == token) return a.id;
  // The vocabulary is keyed in the byte-level alphabet; a token given as text is looked up by bytes.
  for (int32_t id = 0; id < static_cast<int32_t>(impl_->bytes_of.size()); ++id)
    if (impl_->bytes_of[id] == token) return id;
  return std::nullopt;
}

bool bpe_tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < static_cast<int32_t>(impl_->special.size()) && impl_->special[id];
}

void bpe_tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out, piece_cache& cache) const {
  if (piece.size() == 1) {  // one byte: its own token, nothing to merge
    out.push_back(impl_->byte_id[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (auto it = cache.find(piece); it != cache.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  // Symbols in a linked list; a heap of candidate pairs by (rank, position): the lowest rank
  // merges first, the leftmost of equal pairs first, as the reference does.
  const int n = static_cast<int>(piece.size());
  std::vector<int32_t> sym(n);
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    sym[i] = impl_->byte_id[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct cand {
    int32_t rank;
    int left;
    int32_t a, b;
    bool operator>(const cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<cand, std::vector<cand>, std::greater<cand>> heap;
  auto push = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const int right = next[left];
    const uint64_t k = (static_cast<uint64_t>(sym[left]) << 32) | static_cast<uint32_t>(sym[right]);
    if (auto it = impl_->merges.find(k); it != impl_->merges.end()) heap.push({it->second.first, left, sym[left], sym[right]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const cand c = heap.top();
    heap.pop();
    const int right = next[c.left];
    if (sym[c.left] != c.a || right < 0 || sym[right] != c.b) continue;  // stale: a neighbour merged
    sym[c.left] = impl_->merges.at((static_cast<uint64_t>(c.a) << 32) | static_cast<uint32_t>(c.b)).second;
    sym[right] = -1;
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    push(prev[c.left]);
    push(c.left);
  }
  std::vector<int32_t> ids;
  for (int i = 0; i >= 0 && i < n; i = next[i]) ids.push_back(sym[i]);
  out.insert(out.end(), ids.begin(), ids.end());
  if (piece.size() <= 256) cache.emplace(std::string(piece), std::move(ids));
}

void bpe_tokenizer::encode_text(std::string_view raw, std::vector<int32_t>& out, piece_cache& cache) const {
  if (raw.empty()) return;
  std::string text = lossy_utf8(raw);
  if (impl_->nfc) text = nfc(text);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->regex, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t at = 0, last = 0;
  while (at < text.size()) {
    // The text is valid UTF-8 by construction: no need to check it again on every call.
    const int rc = pcre2_match(impl_->regex, subject, text.size(), at, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t s = ov[0], e = ov[1];
    if (s > last) encode_piece(std::string_view(text).substr(last, s - last), out, cache);  // a gap is a piece
    if (e > s) encode_piece(std::string_view(text).substr(s, e - s), out, cache);
    last = e;
    if (e > s) {
      at = e;
    } else {  // an empty match: step over one character
      const int len = utf8_sequence(text, at);
      at += len > 0 ? len : 1;
    }
  }
  if (last < text.size()) encode_piece(std::string_view(text).substr(last), out, cache);
  pcre2_match_data_free(md);
}

std::vector<int32_t> bpe_tokenizer::encode(std::string_view text, bool special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  piece_cache cache;  // pieces seen in this text
  // Each added token's next occurrence at or after `from`, searched again only once passed.
  const auto& added = impl_->added_tokens;
  std::vector<size_t> next(added.size(), 0);
  std::vector<bool> searched(added.size(), false);
  size_t from = 0;
  while (from < text.size()) {
    // The earliest added token (the longest at that place); special ones only when asked.
    size_t best = std::string_view::npos;
    const impl::added* hit = nullptr;
    for (size_t i = 0; i < added.size(); ++i) {
      if (added[i].special && !special) continue;
      if (!searched[i] || (next[i] != std::string_view::npos && next[i] < from)) {
        next[i] = text.find(added[i].content, from);
        searched[i] = true;
      }
      if (next[i] < best) {
        best = next[i];
        hit = &added[i];
      }
    }
    if (!hit) break;
    encode_text(text.substr(from, best - from), out, cache);
    out.push_back(hit->id);
    from = best + hit->content.size();
  }
  if (from < text.size()) encode_text(text.substr(from), out, cache);
  return out;
}

std::string bpe_tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    PRFAAS_REQUIRE(id >= 0 && id < vocab_size(), "token id " + std::to_string(id) + " outside the vocabulary");
    if (skip_special && impl_->special[id]) continue;
    out += impl_->bytes_of[id];
  }
  return out;
}

size_t complete_utf8_prefix(std::string_view bytes) {
  size_t i = 0, done = 0;
  while (i < bytes.size()) {
    const int n = utf8_sequence(bytes, i);
    const auto lead = static_cast<unsigned char>(bytes[i]);
    const bool can_lead = lead >= 0xc2 && lead <= 0xf4;  // else it never begins a character
    if (n > 0) {
      i += n;
    } else if (can_lead && i + static_cast<size_t>(-n) >= bytes.size()) {
      break;  // a sequence cut by the end: wait for its other bytes
    } else {
      i += -n;  // invalid: it will never complete
    }
    done = i;
  }
  return done;
}


}  // namespace prfaas::text
