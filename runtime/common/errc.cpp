#include "runtime/common/errc.h"

namespace prfaas {

const char* to_string(errc code) {
  switch (code) {
    case errc::node_lost: return "node_lost";
    case errc::unreachable: return "unreachable";
    case errc::transport_failed: return "transport_failed";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::no_capacity: return "no_capacity";
    case errc::cancelled: return "cancelled";
    case errc::internal: return "internal";
    case errc::invalid_argument: return "invalid_argument";
    case errc::prompt_too_long: return "prompt_too_long";
    case errc::model_mismatch: return "model_mismatch";
    case errc::bad_config: return "bad_config";
    case errc::port_in_use: return "port_in_use";
    case errc::bad_frame: return "bad_frame";
    case errc::unknown_request: return "unknown_request";
  }
  return "unknown_error";
}

}  // namespace prfaas
