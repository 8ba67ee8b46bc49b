#pragma once
// A client process's door to one router.  Every caller in the process (a bench's threads, a
// gateway's handlers) asks the door exactly as it would ask the router (generate_request ->
// generate_result, or the router's error); the door gives each request a ticket and sends the
// requests of one round of its mailbox to the router in one message (outbox.hpp).  The router
// answers by ticket, its answers to this door of one round of its own mailbox in one message.
// Under load many requests share each message both ways; alone, a request goes at once.
//
//   caf::actor door = actors::open_door(sys, router);
//   auto r = actors::generate(sys, door, request, timeout);   // as with the router itself
//
// The door watches its router: when it goes, every request waiting is answered `unreachable`
// (send again: generate_retrying reconnects) and the door closes.  At most `max_waiting`
// requests wait at once; past that a request is refused (no_capacity), never queued without end.
// A door idle for `idle_close` (nothing asked, nothing waiting) closes: a process keeps no
// door it stopped using (door_keeper opens another when asked again).
// The door watches each caller while it waits: one that goes before its answer came (its
// request timed out, its thread gave up) is told to the router by its tickets, which ends their
// requests after a grace in which a retry may join them (by client id), exactly as when a
// requester of the router's own goes down.  Its answers are dropped at the door.

#include <caf/fwd.hpp>

#include <chrono>
#include <cstddef>

namespace prfaas::actors {

constexpr size_t kMaxDoorWaiting = 65536;
constexpr auto kDoorIdleClose = std::chrono::seconds(30);

caf::actor open_door(caf::actor_system& sys, const caf::actor& router, size_t max_waiting = kMaxDoorWaiting,
                     std::chrono::milliseconds idle_close = kDoorIdleClose);

}  // namespace prfaas::actors
