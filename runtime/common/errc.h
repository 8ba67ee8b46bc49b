#pragma once
// prfaas error codes, grouped like NCCL's result codes: a peer or system failure (retry or fail
// over), an internal failure (our bug), or invalid usage (fix the input; fail at startup).
// Values are append-only: they cross process boundaries inside CAF errors.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace prfaas {

enum class errc : uint8_t {
  // -- peer / system ---------------------------------------------------------------------------
  node_lost = 1,         // a worker died or stopped answering while it held the request
  unreachable = 2,       // a peer (the router, a data port) cannot be reached
  transport_failed = 3,  // a KV connection broke or was refused mid-transfer
  deadline_exceeded = 4, // the request's deadline passed before it completed
  no_capacity = 5,       // no node of a needed kind is registered, or a bounded pool is full
  cancelled = 6,         // the request ended elsewhere (error, deadline, client gone): its work stops
  // -- internal --------------------------------------------------------------------------------
  internal = 20,
  // -- invalid usage ---------------------------------------------------------------------------
  invalid_argument = 40,
  prompt_too_long = 41,  // prompt plus max tokens exceed the model's context
  model_mismatch = 42,   // a node's model configuration differs from the router's
  bad_config = 43,       // a config file could not be parsed or holds an invalid value
  port_in_use = 44,      // the listen address is taken
  bad_frame = 45,        // a KV frame is malformed, out of range, or for an unknown request
  unknown_request = 46,
};

const char* to_string(errc code);

// The exception runtime/ throws for an operating error; actors turn it into a CAF error with the
// same code, so the message reaches the client unchanged.
class failure : public std::runtime_error {
 public:
  failure(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

// A file or setting that is wrong: throws failure(bad_config) "source: what" (a file's path, a
// field's name).
[[noreturn]] inline void fail_config(const std::string& source, const std::string& what) {
  throw failure(errc::bad_config, source + ": " + what);
}

// Checks a caller's precondition (kj's REQUIRE): throws failure(invalid_argument).
#define PRFAAS_REQUIRE(cond, msg)                                                              \
  do {                                                                                         \
    if (!(cond)) throw ::prfaas::failure(::prfaas::errc::invalid_argument, (msg));             \
  } while (0)

// Checks our own invariant (kj's ASSERT): a failure is a bug in prfaas.
#define PRFAAS_ASSERT(cond)                                                                    \
  do {                                                                                         \
    if (!(cond))                                                                               \
      throw ::prfaas::failure(::prfaas::errc::internal,                                        \
                              std::string("assertion failed: " #cond " at ") + __FILE__ +     \
                                  ":" + std::to_string(__LINE__));                             \
  } while (0)

}  // namespace prfaas
