// The TCP carrier (carrier.h): kv_sender and kv_receiver behind the carrier interface.
#include "runtime/transport/carrier.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"

namespace prfaas::transport {
namespace {

class tcp_carrier final : public carrier {
 public:
  const char* name() const override { return "tcp"; }
  std::unique_ptr<carrier_listener> listen(const endpoint& at, event_sink sink, const receiver_options& options) override {
    return std::make_unique<kv_receiver>(at, std::move(sink), options);
  }
  std::shared_ptr<carrier_link> connect(const endpoint& to, const link_options& options,
                                        std::shared_ptr<pacer> egress) override {
    return std::make_shared<kv_sender>(to, options, std::move(egress));
  }
};

}  // namespace

std::shared_ptr<carrier> make_tcp_carrier() { return std::make_shared<tcp_carrier>(); }

}  // namespace prfaas::transport
