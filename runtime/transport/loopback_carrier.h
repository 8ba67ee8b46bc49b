#pragma once
// The in-process carrier (carrier.h): listeners and links inside one process, for tests and
// single-process apps that compose roles without sockets.
//
//   auto c = make_loopback_carrier();                    // one "network": its own port numbers
//   auto rx = c->listen({"127.0.0.1", 0}, sink, {});     // port from 1 up; the host is not used
//   auto tx = c->connect({"127.0.0.1", rx->port()}, {}); // failure(unreachable) if none listens
//
// A link copies each payload from the source block straight into the target block the
// listener's transfer_registry gives, on the posting thread: that memcpy is the one move (there
// is no wire), counted in link_stats.copied_bytes, and nothing is ever posted and unwritten.
// Acknowledgements come back at once from the same registry the TCP receiver uses, so the
// layer events, the checks on every frame and the errors are TCP's.  The shared secret is
// checked as TCP's handshake does; an egress pacer paces the copies.  A listener that is
// destroyed fails the transfers of every link to it.

#include <memory>

#include "runtime/transport/carrier.h"

namespace prfaas::transport {

std::shared_ptr<carrier> make_loopback_carrier();

}  // namespace prfaas::transport
