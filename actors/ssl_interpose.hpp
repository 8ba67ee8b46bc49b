#pragma once
// The library's own definition of a function this process wraps (libssl's SSL_read in
// openssl_error_queue.cpp and basp_door.cpp, libc's accept in accept_door.cpp): the
// executable's definitions win symbol lookup, RTLD_NEXT finds the library's.

#include <dlfcn.h>

namespace prfaas::actors {

template <class F>
F next_definition(const char* name) {
  static_assert(sizeof(F) == sizeof(void*));
  void* p = ::dlsym(RTLD_NEXT, name);
  F f;
  __builtin_memcpy(&f, &p, sizeof f);
  return f;
}

}  // namespace prfaas::actors
