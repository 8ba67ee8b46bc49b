# The libraries prfaas is built on, found the same way by its own build and by an app's
# find_package(prfaas) (prfaasConfig.cmake includes this file).  All are Debian's packages.
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
# oneDNN: the CPU engine's matrix multiplies (kernels/cpu/gemm.h says why this library).  Its
# Debian CMake config insists on OpenCL, which the CPU engine does not use: find it directly.
if(NOT TARGET DNNL::dnnl)
  find_path(DNNL_INCLUDE_DIR dnnl.hpp REQUIRED)
  find_library(DNNL_LIBRARY dnnl REQUIRED)
  add_library(DNNL::dnnl UNKNOWN IMPORTED)
  set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION "${DNNL_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${DNNL_INCLUDE_DIR}")
endif()

# CAF 0.17: Debian ships neither a CMake config nor a .pc file.
if(NOT TARGET CAF::core)
  find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
  find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
  find_library(CAF_IO_LIBRARY caf_io REQUIRED)
  add_library(CAF::core UNKNOWN IMPORTED)
  set_target_properties(CAF::core PROPERTIES IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
  target_link_libraries(CAF::core INTERFACE Threads::Threads)
  add_library(CAF::io UNKNOWN IMPORTED)
  set_target_properties(CAF::io PROPERTIES IMPORTED_LOCATION "${CAF_IO_LIBRARY}")
  target_link_libraries(CAF::io INTERFACE CAF::core)
  # CAF's OpenSSL module: mutual TLS on the actor plane.
  find_library(CAF_OPENSSL_LIBRARY caf_openssl REQUIRED)
  add_library(CAF::openssl UNKNOWN IMPORTED)
  set_target_properties(CAF::openssl PROPERTIES IMPORTED_LOCATION "${CAF_OPENSSL_LIBRARY}")
endif()

# Cap'n Proto's config checks for libatomic with check_library_exists, a C check that fails in a
# project of C++ alone; the same answer from a C++ check first (the C one then reuses it).
get_property(prfaas_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if(NOT "C" IN_LIST prfaas_languages AND NOT DEFINED FOUND_LIBATOMIC)
  include(CheckCXXSourceCompiles)
  set(prfaas_required_libraries "${CMAKE_REQUIRED_LIBRARIES}")
  list(APPEND CMAKE_REQUIRED_LIBRARIES atomic)
  check_cxx_source_compiles("#include <atomic>
int main() { std::atomic<long long> a{1}; return static_cast<int>(a.load()) - 1; }" FOUND_LIBATOMIC)
  set(CMAKE_REQUIRED_LIBRARIES "${prfaas_required_libraries}")
endif()
find_package(CapnProto CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
if(NOT TARGET PkgConfig::TOMLPP)
  pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
endif()
# The model's tokenizer: the pre-tokenizer's regex (PCRE2, Unicode classes, JIT) and NFC (utf8proc).
if(NOT TARGET PkgConfig::PCRE2)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()
if(NOT TARGET PkgConfig::UTF8PROC)
  pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
endif()
# The gateway role's HTTP server.
if(NOT TARGET PkgConfig::HTTPLIB)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
endif()
# A checkpoint's content hash (XXH3).
if(NOT TARGET PkgConfig::XXHASH)
  pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
endif()
find_package(nlohmann_json 3 CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
