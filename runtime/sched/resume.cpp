#include "runtime/sched/resume.h"

namespace prfaas::sched {

bool produced_tokens::add(int offset, std::span<const int32_t> tokens) {
  if (offset < 0 || static_cast<size_t>(offset) > tokens_.size()) return false;
  const size_t known = tokens_.size() - static_cast<size_t>(offset);
  if (tokens.size() > known) tokens_.insert(tokens_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(known), tokens.end());
  return true;
}

std::optional<resume_point> resume_from(std::span<const int32_t> prompt, std::span<const int32_t> output,
                                        bool logprobs_asked) {
  if (output.empty() || logprobs_asked) return std::nullopt;
  resume_point r;
  r.prompt.reserve(prompt.size() + output.size() - 1);
  r.prompt.assign(prompt.begin(), prompt.end());
  r.prompt.insert(r.prompt.end(), output.begin(), output.end() - 1);
  r.output.assign(output.begin(), output.end());
  return r;
}

}  // namespace prfaas::sched
