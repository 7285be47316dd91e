#pragma once
// libcurl, loaded with dlopen on first use instead of linked into the program: the dynamic loading
// of libcurl and its ~20 dependencies costs more than the rest of a `trainctl --version`
// (its budget is 2 ms, bench/README.md), so only the commands that talk to a service pay for it. curl's
// headers are used for types and constants only; no curl symbol is linked.
#include <curl/curl.h>

#include "trainctl/util/error.hpp"

namespace trainctl::client {

// The libcurl functions the transport calls, resolved from the loaded library. Each pointer has
// the exact type of the function it stands for (easy_setopt and easy_getinfo are variadic).
struct CurlLibrary {
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_reset) easy_reset = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
};

// libcurl, loaded and globally initialised (curl_global_init) by the first call; thread-safe, and
// it stays loaded for the life of the process. Every later call returns the first outcome.
// Fails with ErrorCode::unavailable when libcurl.so.4 is missing ("libcurl is not installed:
// apt-get install libcurl4") or lacks one of the functions, and ErrorCode::internal when
// curl_global_init fails.
Result<const CurlLibrary*> curl_library();

}  // namespace trainctl::client
