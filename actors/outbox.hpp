#pragma once
// What an actor tells one peer, gathered while its mailbox holds more work and sent as one
// message once it has read what was queued before.  Under load one message carries many
// requests' news, so the per-message cost on both ends (a BASP frame, a TLS record, system
// calls, a wake-up) is paid once for all of them; idle, nothing waits: the flush is the next
// message the actor reads.
//
//   st.news.add(self).results.push_back(r);         // asks for a flush_atom if none is coming
//   [=](atoms::flush_atom) { st.news.flushed(); send_news(self); }
//   void send_news(...) { if (auto n = st.news.take(self)) self->send(st.router, std::move(*n)); }
//
// With a `min_gap`, the peer gets at most one message per gap: what comes sooner is gathered
// until the gap since the last message has passed (a flush_atom is due then).  A node whose
// events come one by one, each soon after the last, so sends them in fewer messages, each
// waiting at most the gap; the first after a quiet gap goes at once.
//
// `Batch` is a message of vectors with an `empty()`.

#include <chrono>
#include <optional>
#include <utility>

#include "actors/messages.hpp"

namespace prfaas::actors {

template <class Batch>
class outbox {
 public:
  using clock = std::chrono::steady_clock;

  explicit outbox(clock::duration min_gap = clock::duration::zero()) : min_gap_(min_gap) {}

  // The batch to add to; the first add after a flush sends `self` a flush_atom (when the gap
  // since the last message ends, if it has not).
  template <class Self>
  Batch& add(Self* self, clock::time_point now = clock::now()) {
    if (!flush_coming_) ask_flush(self, now);
    return batch_;
  }

  // The batch, for a caller that sends it (take) before it returns: no flush_atom.
  Batch& gather() { return batch_; }

  // The flush_atom was read: the next add asks for another.
  void flushed() { flush_coming_ = false; }

  // What was gathered since the last take, if anything, whatever the gap.
  std::optional<Batch> take() {
    if (batch_.empty()) return std::nullopt;
    sent_ = clock::now();
    return std::exchange(batch_, Batch{});
  }

  // The same, within the gap since the last message nothing is given: a flush_atom is asked for the gap's end instead.
  template <class Self>
  std::optional<Batch> take(Self* self, clock::time_point now = clock::now()) {
    if (batch_.empty()) return std::nullopt;
    if (now < sent_ + min_gap_) {
      if (!flush_coming_) ask_flush(self, now);
      return std::nullopt;
    }
    sent_ = now;
    return std::exchange(batch_, Batch{});
  }

 private:
  template <class Self>
  void ask_flush(Self* self, clock::time_point now) {
    flush_coming_ = true;
    const auto wait = sent_ + min_gap_ - now;
    if (wait <= clock::duration::zero()) self->send(self, atoms::flush_atom::value);
    else self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(wait) + std::chrono::microseconds(1),
                            atoms::flush_atom::value);
  }

  Batch batch_;
  clock::duration min_gap_;
  clock::time_point sent_{};  // the last message's
  bool flush_coming_ = false;
};

}  // namespace prfaas::actors
