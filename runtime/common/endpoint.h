#pragma once
// A HOST:PORT pair as given on command lines and in registrations.

#include <cstdint>
#include <string>

namespace prfaas {

struct endpoint {
  std::string host;
  uint16_t port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
  bool operator==(const endpoint&) const = default;
};

// Parses "HOST:PORT" (port 0 allowed: pick any free port). Throws failure(invalid_argument).
endpoint parse_endpoint(const std::string& text);

}  // namespace prfaas
