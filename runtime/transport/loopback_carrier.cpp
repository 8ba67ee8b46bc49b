#include "runtime/transport/loopback_carrier.h"

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "runtime/common/errc.h"

namespace prfaas::transport {
namespace {

// What a listener and the links to it share: the registry, and a lock that makes cancel()
// wait out a copy into the target (TCP cuts the connection instead; a memcpy cannot be cut).
struct listener_core {
  listener_core(carrier::event_sink sink, const receiver_options& o)
      : options(o), registry(std::move(sink), o.max_pending, o.resume_window, o.expect_grace) {}
  receiver_options options;
  transfer_registry registry;
  std::shared_mutex landing;  // shared: copies in progress; exclusive: cancel
  bool closed = false;        // under `landing`
};

struct network {
  std::mutex mutex;
  std::map<uint16_t, std::weak_ptr<listener_core>> listeners;
  uint16_t next_port = 1;
  uint64_t next_connection = 1;
};

class loopback_listener final : public carrier_listener {
 public:
  loopback_listener(std::shared_ptr<network> net, uint16_t port, std::shared_ptr<listener_core> core)
      : net_(std::move(net)), port_(port), core_(std::move(core)) {}
  ~loopback_listener() override {
    {
      std::lock_guard lock(net_->mutex);
      net_->listeners.erase(port_);
    }
    std::unique_lock lock(core_->landing);
    core_->closed = true;
  }
  uint16_t port() const override { return port_; }
  void expect(uint64_t request, transfer_view& target) override { core_->registry.expect(request, target); }
  void cancel(uint64_t request) override {
    std::unique_lock lock(core_->landing);  // no copy into its target is under way
    core_->registry.cancel(request);
  }
  receive_counters stats() const override { return core_->registry.stats(); }

 private:
  std::shared_ptr<network> net_;
  uint16_t port_;
  std::shared_ptr<listener_core> core_;
};

class loopback_link final : public carrier_link {
 public:
  loopback_link(endpoint peer, link_options options, std::weak_ptr<listener_core> core, uint64_t connection,
                std::shared_ptr<pacer> egress)
      : peer_(std::move(peer)), options_(std::move(options)), core_(std::move(core)), connection_(connection),
        pacer_(std::move(egress)) {
    if (!pacer_ && options_.pacing_gbps > 0) pacer_ = std::make_shared<pacer>(options_.pacing_gbps);
  }
  ~loopback_link() override {
    if (auto core = core_.lock()) core->registry.connection_lost(connection_, "KV link closed", false);
  }

  void send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) override {
    PRFAAS_REQUIRE(layer >= 0 && layer < source.layers() && first >= 0 && first <= end &&
                       end <= source.payload_count(layer),
                   "payloads [" + std::to_string(first) + ", " + std::to_string(end) + ") of layer " +
                       std::to_string(layer) + " are outside the transfer");
    frame_header h;
    h.kind = source.kind(layer) == payload_kind::block ? frame_kind::kv_block : frame_kind::linear_state;
    h.request = request;
    h.layer = static_cast<uint32_t>(layer);
    h.token_count = source.token_count();
    for (int i = first; i < end; ++i) {
      h.index = static_cast<uint32_t>(i);
      const auto payload = source.payload(layer, i);
      begin_write(request);
      try {
        if (pacer_) pacer_->acquire(payload.size());
        deliver(request, h, payload);
      } catch (...) {
        end_write(request, 0);
        throw;
      }
      end_write(request, payload.size());
    }
  }

  using carrier_link::send_done;
  void send_done(uint64_t request, uint32_t tokens, int32_t first_token,
                 std::optional<token_logprobs> first_logprobs) override {
    frame_header h;
    h.kind = frame_kind::request_done;
    h.request = request;
    h.token_count = tokens;
    h.first_token = first_token;
    h.first_logprobs = std::move(first_logprobs);
    check(request);
    control(h);
  }

  void send_abort(uint64_t request, const std::string& reason) override {
    forget(request);
    frame_header h;
    h.kind = frame_kind::abort;
    h.request = request;
    h.reason = reason;
    control(h);
  }

  uint64_t finish(uint64_t request, clock::time_point deadline) override {
    std::unique_lock lock(mutex_);
    const bool ended = changed_.wait_until(lock, deadline, [&] {
      auto it = records_.find(request);
      return !broken_.empty() || it == records_.end() || it->second.state != record::active;
    });
    std::string error;
    errc code = errc::transport_failed;
    auto it = records_.find(request);
    if (!ended) {
      code = errc::deadline_exceeded;
      error = "KV transfer of request " + std::to_string(request) + " to " + peer_.str() +
              " not confirmed by its deadline (" + std::to_string(it->second.acked_layers) + " layers acknowledged)";
    } else if (it != records_.end() && it->second.state == record::failed) {
      error = it->second.error;
    } else if (it != records_.end() && it->second.state == record::active) {
      error = broken_;
    }
    const uint64_t sent = it == records_.end() ? 0 : it->second.payload_sent;
    lock.unlock();
    forget(request);
    if (!error.empty()) throw failure(code, error);
    return sent;
  }

  void forget(uint64_t request) override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] {
      auto it = records_.find(request);
      return it == records_.end() || it->second.writing == 0;
    });
    records_.erase(request);
  }

  link_progress progress_of(uint64_t request) const override {
    std::lock_guard lock(mutex_);
    auto it = records_.find(request);
    return it == records_.end() ? link_progress{} : it->second.progress();
  }


  bool broken() const override {
    std::lock_guard lock(mutex_);
    return !broken_.empty();
  }
  bool idle() const override {
    std::lock_guard lock(mutex_);
    return records_.empty();
  }
  int connection_count() const override { return 1; }
  uint64_t payload_bytes_sent() const override {
    std::lock_guard lock(mutex_);
    return sent_payload_;
  }
  link_stats stats() const override {
    link_stats st;
    st.peer = peer_.str();
    st.connections = 1;
    st.capacity_gbps = options_.capacity_gbps;
    std::lock_guard lock(mutex_);
    st.bytes_posted = st.bytes_sent = sent_;
    st.frames_sent = frames_;
    st.copied_bytes = sent_payload_;  // every payload byte is copied once, into its target
    return st;
  }

 private:
  struct record : transfer_outcome {
    int writing = 0;  // posters copying its payloads right now
  };

  // Throws when the link or the request failed: stop computing for it.
  void check(uint64_t request) {
    std::lock_guard lock(mutex_);
    if (!broken_.empty()) throw failure(errc::transport_failed, broken_);
    auto it = records_.find(request);
    if (it != records_.end() && it->second.state == record::failed) throw failure(errc::transport_failed, it->second.error);
  }

  void begin_write(uint64_t request) {
    std::lock_guard lock(mutex_);
    if (!broken_.empty()) throw failure(errc::transport_failed, broken_);
    auto it = records_.find(request);
    if (it == records_.end()) {
      if (records_.size() >= 4096) throw failure(errc::no_capacity, "KV link to " + peer_.str() + " carries 4096 transfers");
      it = records_.emplace(request, record{}).first;
    }
    if (it->second.state == record::failed) throw failure(errc::transport_failed, it->second.error);
    ++it->second.writing;
  }

  void end_write(uint64_t request, size_t bytes) {
    std::lock_guard lock(mutex_);
    auto it = records_.find(request);
    if (it != records_.end()) {
      --it->second.writing;
      it->second.payload_sent += bytes;
    }
    sent_ += bytes;
    sent_payload_ += bytes;
    frames_ += bytes > 0;
    changed_.notify_all();
  }

  std::shared_ptr<listener_core> receiver() {
    auto core = core_.lock();
    if (!core) {
      std::lock_guard lock(mutex_);
      fail_all("KV link to " + peer_.str() + " failed: the receiver is gone");
      throw failure(errc::transport_failed, broken_);
    }
    return core;
  }

  // The payload goes from the source block into its target: the one copy.
  void deliver(uint64_t request, const frame_header& h, std::span<const std::byte> payload) {
    auto core = receiver();
    receipt r;
    {
      std::shared_lock landing(core->landing);
      if (core->closed) {
        std::lock_guard lock(mutex_);
        fail_all("KV link to " + peer_.str() + " failed: the receiver is gone");
        throw failure(errc::transport_failed, broken_);
      }
      const auto land = core->registry.begin_payload(connection_, h, payload.size(), options_.name);
      if (land.dst.empty()) {
        core->registry.count_dropped(payload.size());
        if (land.unknown) r = {receipt::failed, request, 0, "the receiver does not expect this request"};
      } else {
        std::memcpy(land.dst.data(), payload.data(), payload.size());
        r = core->registry.end_payload(connection_, h, payload.size(), "");
      }
    }
    on_receipt(r);
  }

  void control(const frame_header& h) {
    auto core = receiver();
    receipt r;
    {
      std::shared_lock landing(core->landing);
      r = core->registry.control(connection_, h, options_.name);
    }
    on_receipt(r);
  }

  void on_receipt(const receipt& r) {
    if (r.kind == receipt::none) return;
    std::lock_guard lock(mutex_);
    auto it = records_.find(r.request);
    if (it == records_.end()) return;
    auto& rec = it->second;
    switch (r.kind) {
      case receipt::progress: rec.acknowledged(r.acked_layers); break;
      case receipt::complete: rec.completed(r.acked_layers); break;
      case receipt::failed:
        rec.fail("KV receiver " + peer_.str() + " gave request " + std::to_string(r.request) + " up: " + r.why);
        break;
      case receipt::none: break;
    }
    changed_.notify_all();
  }

  void fail_all(const std::string& why) {  // under mutex_
    if (broken_.empty()) broken_ = why;
    for (auto& [id, r] : records_) r.fail(broken_);
    changed_.notify_all();
  }

  endpoint peer_;
  link_options options_;
  std::weak_ptr<listener_core> core_;
  uint64_t connection_;
  std::shared_ptr<pacer> pacer_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, record> records_;
  std::string broken_;
  uint64_t sent_ = 0, sent_payload_ = 0, frames_ = 0;
};

class loopback_carrier final : public carrier {
 public:
  const char* name() const override { return "loopback"; }

  std::unique_ptr<carrier_listener> listen(const endpoint& at, event_sink sink, const receiver_options& options) override {
    auto core = std::make_shared<listener_core>(std::move(sink), options);
    std::lock_guard lock(net_->mutex);
    uint16_t port = at.port;
    if (port == 0) {
      while (net_->listeners.count(net_->next_port)) ++net_->next_port;
      port = net_->next_port++;
    } else if (net_->listeners.count(port)) {
      throw failure(errc::bad_config, "loopback port " + std::to_string(port) + " is in use");
    }
    net_->listeners[port] = core;
    return std::make_unique<loopback_listener>(net_, port, std::move(core));
  }

  std::shared_ptr<carrier_link> connect(const endpoint& to, const link_options& options,
                                        std::shared_ptr<pacer> egress) override {
    std::shared_ptr<listener_core> core;
    uint64_t connection;
    {
      std::lock_guard lock(net_->mutex);
      auto it = net_->listeners.find(to.port);
      if (it != net_->listeners.end()) core = it->second.lock();
      connection = net_->next_connection++;
    }
    if (!core) throw failure(errc::unreachable, "no KV receiver listens at " + to.str() + " (loopback)");
    // The handshake's check, without the round trips: the same proof under both secrets.
    const auto challenge = random_challenge();
    if (!core->options.secret.empty() &&
        !proofs_equal(handshake_proof(core->options.secret, challenge, options.name),
                      handshake_proof(options.secret, challenge, options.name))) {
      core->registry.count_connection(false);
      throw failure(errc::transport_failed, "KV receiver " + to.str() + " refused the connection: authentication failed");
    }
    if (core->options.require_encryption && !options.encrypt) {
      core->registry.count_connection(false);
      throw failure(errc::transport_failed, "KV receiver " + to.str() + " refused the connection: it requires encryption");
    }
    core->registry.count_connection(true);
    return std::make_shared<loopback_link>(to, options, core, connection, std::move(egress));
  }

 private:
  std::shared_ptr<network> net_ = std::make_shared<network>();
};

}  // namespace

std::shared_ptr<carrier> make_loopback_carrier() { return std::make_shared<loopback_carrier>(); }

}  // namespace prfaas::transport
