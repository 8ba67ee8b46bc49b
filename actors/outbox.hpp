#pragma once
// What an actor tells one peer, gathered while its mailbox holds more work and sent as one
// message once it has read what was queued before.  Under load one message carries many
// requests' news, so the per-message cost on both ends (a BASP frame, a TLS record, system
// calls, a wake-up) is paid once for all of them; idle, nothing waits: the flush is the next
// message the actor reads.
//
//   st.news.add(self).results.push_back(r);         // asks for a flush_atom if none is coming
//   [=](atoms::flush_atom) { st.news.flushed(); send_news(self); }
//   void send_news(...) { if (auto n = st.news.take()) self->send(st.router, std::move(*n)); }
//
// `Batch` is a message of vectors with an `empty()`.

#include <optional>
#include <utility>

#include "actors/messages.hpp"

namespace prfaas::actors {

template <class Batch>
class outbox {
 public:
  // The batch to add to; the first add after a flush sends `self` a flush_atom.
  template <class Self>
  Batch& add(Self* self) {
    if (!flush_coming_) {
      flush_coming_ = true;
      self->send(self, atoms::flush_atom::value);
    }
    return batch_;
  }

  // The batch, for a caller that sends it (take) before it returns: no flush_atom.
  Batch& gather() { return batch_; }

  // The flush_atom was read: the next add asks for another.
  void flushed() { flush_coming_ = false; }

  // What was gathered since the last take, if anything.
  std::optional<Batch> take() {
    if (batch_.empty()) return std::nullopt;
    return std::exchange(batch_, Batch{});
  }

 private:
  Batch batch_;
  bool flush_coming_ = false;
};

}  // namespace prfaas::actors
