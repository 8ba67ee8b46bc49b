// The KV staging area: finished sequences held while their KV crosses, released when the link
// says the transfer ended, bounded in bytes.

#include "runtime/transport/kv_staging.h"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

using namespace prfaas;
using namespace prfaas::transport;

namespace {

// A link whose transfers end when the test says so.
class scripted_link final : public carrier_link {
 public:
  void set(uint64_t request, transfer_outcome::state_t state, uint64_t sent = 0) {
    std::lock_guard lock(m_);
    auto& r = records_[request];
    r.state = state;
    r.payload_sent = sent;
    if (state == transfer_outcome::failed) r.error = "connection to the receiver lost";
    changed_.notify_all();
  }
  uint64_t finish(uint64_t request, clock::time_point deadline) override {
    std::unique_lock lock(m_);
    const bool ended = changed_.wait_until(lock, deadline, [&] { return records_[request].state != transfer_outcome::active; });
    const auto r = records_[request];
    records_.erase(request);
    ++finished;
    if (!ended) throw failure(errc::deadline_exceeded, "not confirmed by its deadline");
    if (r.state == transfer_outcome::failed) throw failure(errc::transport_failed, r.error);
    return r.payload_sent;
  }
  link_progress progress_of(uint64_t request) const override {
    std::lock_guard lock(m_);
    auto it = records_.find(request);
    return it == records_.end() ? link_progress{} : it->second.progress();
  }
  void send_payloads(uint64_t request, transfer_view&, int, int, int) override {}
  using carrier_link::send_done;
  void send_done(uint64_t request, uint32_t, int32_t, std::optional<token_logprobs>) override {
    set(request, transfer_outcome::active);
  }
  void send_abort(uint64_t, const std::string&) override {}
  void forget(uint64_t request) override {
    std::lock_guard lock(m_);
    records_.erase(request);
  }
  bool broken() const override { return false; }
  bool idle() const override { return true; }
  int connection_count() const override { return 1; }
  link_stats stats() const override { return {}; }
  uint64_t payload_bytes_sent() const override { return 0; }
  int finished = 0;

 private:
  mutable std::mutex m_;
  std::condition_variable changed_;
  std::map<uint64_t, transfer_outcome> records_;
};

using clock_type = std::chrono::steady_clock;
const auto later = [] { return clock_type::now() + std::chrono::seconds(30); };

}  // namespace

TEST_CASE("a staged sequence stays until its receiver confirms it, then leaves with its bytes on the wire") {
  auto link = std::make_shared<scripted_link>();
  kv_staging<std::string> staging(1 << 20);
  link->send_done(7, 100, 0);
  staging.add(7, link, 4096, later(), "request 7's KV");
  CHECK(staging.reap().empty());
  CHECK(staging.used_bytes() == 4096);

  link->set(7, transfer_outcome::complete, 5000);
  auto ended = staging.reap();
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].request == 7);
  CHECK(ended[0].held == "request 7's KV");
  CHECK_FALSE(ended[0].error);
  CHECK(ended[0].payload_bytes == 5000);
  CHECK(staging.empty());
  CHECK(staging.used_bytes() == 0);
  CHECK(link->finished == 1);  // the link's own end ran: it forgot the request
}

TEST_CASE("a failed transfer leaves the staging area with its cause, one past its deadline as deadline_exceeded") {
  auto link = std::make_shared<scripted_link>();
  kv_staging<int> staging(1 << 20);
  link->send_done(1, 10, 0);
  link->send_done(2, 10, 0);
  link->send_done(3, 10, 0);
  staging.add(1, link, 100, later(), 1);
  staging.add(2, link, 100, clock_type::now() + std::chrono::milliseconds(20), 2);
  staging.add(3, link, 100, later(), 3);
  link->set(1, transfer_outcome::failed);
  auto ended = staging.reap();
  REQUIRE(ended.size() == 1);
  REQUIRE(ended[0].error);
  CHECK(ended[0].error->code() == errc::transport_failed);
  CHECK(std::string(ended[0].error->what()).find("receiver lost") != std::string::npos);

  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ended = staging.reap();
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].held == 2);
  REQUIRE(ended[0].error);
  CHECK(ended[0].error->code() == errc::deadline_exceeded);
  CHECK(staging.size() == 1);  // request 3 is still crossing
}

TEST_CASE("a full staging area admits nothing more until its oldest transfer ends, and always admits one") {
  auto link = std::make_shared<scripted_link>();
  kv_staging<int> staging(100);
  CHECK(staging.fits(1000));  // empty: a sequence larger than the bound still runs
  link->send_done(1, 10, 0);
  link->send_done(2, 10, 0);
  staging.add(1, link, 60, later(), 1);
  CHECK(staging.fits(40));
  CHECK_FALSE(staging.fits(41));
  staging.add(2, link, 30, later(), 2);
  CHECK_FALSE(staging.fits(20));

  // The oldest's receiver confirms it a moment later: wait_oldest returns it, and there is room.
  std::thread receiver([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    link->set(1, transfer_outcome::complete, 60);
  });
  const auto t0 = clock_type::now();
  auto e = staging.wait_oldest();
  receiver.join();
  REQUIRE(e);
  CHECK(e->held == 1);
  CHECK_FALSE(e->error);
  CHECK(clock_type::now() - t0 >= std::chrono::milliseconds(40));
  CHECK(staging.fits(20));
  CHECK(staging.size() == 1);
}
