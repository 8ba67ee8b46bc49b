#pragma once
// How a prfaas-node writes its log lines: "text" (time, [node], level, message) or "json" (one
// object a line, for log shippers: {"time", "node", "level", "message"}).

#include <string>

namespace prfaas::apps {

// Throws failure(invalid_argument) for another format.
void set_log_format(const std::string& format, const std::string& node);

}  // namespace prfaas::apps
