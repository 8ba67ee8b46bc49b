// A fix for libcaf_openssl 0.17.6 as Debian builds it (CAF_LOG_LEVEL_QUIET): after a failed TLS
// call it never drains OpenSSL's per-thread error queue (the draining call sits inside a log
// macro that is compiled out).  Every connection of a process is served by the one multiplexer
// thread, and SSL_get_error reports SSL_ERROR_SSL whenever that queue is non-empty, so one peer
// that vanishes without close_notify, or one stranger failing the handshake, made the next
// "would block" on every other connection read as a fatal error: all of a router's nodes were
// dropped at once.  The calls CAF makes are wrapped here to start from an empty queue, so the
// error SSL_get_error sees is the call's own.
//
// The wrappers take the place of libssl's functions for the whole process (the executable's
// definitions come first in symbol lookup); each forwards to libssl's own through RTLD_NEXT.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "actors/actor_plane.hpp"
#include "actors/ssl_interpose.hpp"

namespace prfaas::actors {
int basp_door_read(SSL* ssl, const void* buf, int got);
void basp_door_wrote(SSL* ssl, const void* buf, int sent);
// The deadline of the handshakes this process starts (handshake_deadline.cpp).
void handshake_started(SSL* ssl, int result);
void handshake_progressed(SSL* ssl, int result);
}


extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto real = prfaas::actors::next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  const int got = real(ssl, buf, num);
  prfaas::actors::handshake_progressed(ssl, got);
  // What the peer sent passes the BASP check before CAF parses it (actors/basp_door.cpp).
  return prfaas::actors::basp_door_read(ssl, buf, got);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto real = prfaas::actors::next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  const int sent = real(ssl, buf, num);
  prfaas::actors::handshake_progressed(ssl, sent);
  prfaas::actors::basp_door_wrote(ssl, buf, sent);  // counts the actor messages written
  return sent;
}

int SSL_accept(SSL* ssl) {
  static const auto real = prfaas::actors::next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto real = prfaas::actors::next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  const int r = real(ssl);
  prfaas::actors::handshake_started(ssl, r);  // it gets a deadline
  return r;
}

}  // extern "C"

namespace prfaas::actors {

// Referenced by system_config, so that the linker takes this file (and its wrappers) into every
// binary that can run TLS.
bool openssl_error_queue_fixed() { return true; }

}  // namespace prfaas::actors
