#include "apps/log_format.h"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include "runtime/common/errc.h"

namespace prfaas::apps {
namespace {

// %* : the message as a JSON string (quoted, escaped; bytes that are not UTF-8 replaced).
class json_message final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string text =
        nlohmann::json(std::string(msg.payload.data(), msg.payload.size())).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message>(); }
};

}  // namespace

void set_log_format(const std::string& format, const std::string& node) {
  if (format == "text") {
    spdlog::set_pattern("%H:%M:%S.%e [" + node + "] %^%l%$ %v");
  } else if (format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<json_message>('*').set_pattern("{\"time\":\"%Y-%m-%dT%H:%M:%S.%e%z\",\"node\":" +
                                               nlohmann::json(node).dump() + ",\"level\":\"%l\",\"message\":%*}");
    spdlog::set_formatter(std::move(f));
  } else {
    throw failure(errc::invalid_argument, "unknown log format '" + format + "' (text or json)");
  }
}

}  // namespace prfaas::apps
