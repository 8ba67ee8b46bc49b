#pragma once
// Token content for a trace request, so that a live replay shares prefixes exactly where the
// trace's hash_ids say it does.  Each trace block (512 tokens) becomes 512 / scale bytes derived
// from its id alone (the tokenizer is byte-level), the prompt is the request's blocks in order,
// cut to ceil(input_length / scale) bytes.  Two requests with the same leading ids share the
// same leading bytes; a different id gives different bytes (up to a 64-bit hash collision).

#include <string>

#include "runtime/sim/workload.h"

namespace prfaas::sim {

inline constexpr int kTraceBlockTokens = 512;

// `scale` must divide 512.  Throws failure(invalid_argument) otherwise.
std::string trace_prompt(const request& r, int scale);

}  // namespace prfaas::sim
