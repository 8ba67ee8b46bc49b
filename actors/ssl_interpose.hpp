#pragma once
// libssl's own definition of a function this process wraps (openssl_error_queue.cpp,
// basp_door.cpp): the executable's definitions win symbol lookup, RTLD_NEXT finds libssl's
// (and libc's, for accept_door.cpp).

#include <dlfcn.h>

namespace prfaas::actors {

template <class F>
F libssl_next(const char* name) {
  static_assert(sizeof(F) == sizeof(void*));
  void* p = ::dlsym(RTLD_NEXT, name);
  F f;
  __builtin_memcpy(&f, &p, sizeof f);
  return f;
}

// libc's definition of a function this process wraps (accept_door.cpp: accept).
template <class F>
F libc_next(const char* name) {
  return libssl_next<F>(name);
}

}  // namespace prfaas::actors
