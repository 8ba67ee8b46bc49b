#include "runtime/common/endpoint.h"

#include "runtime/common/errc.h"

namespace prfaas {

endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  PRFAAS_REQUIRE(colon != std::string::npos && colon > 0 && colon + 1 < text.size(),
                 "expected HOST:PORT, got '" + text + "'");
  const std::string port_text = text.substr(colon + 1);
  PRFAAS_REQUIRE(port_text.find_first_not_of("0123456789") == std::string::npos &&
                     port_text.size() <= 5,
                 "bad port in '" + text + "'");
  const unsigned long port = std::stoul(port_text);
  PRFAAS_REQUIRE(port <= 65535, "port out of range in '" + text + "'");
  return endpoint{text.substr(0, colon), static_cast<uint16_t>(port)};
}

}  // namespace prfaas
