#include "curl_library.hpp"

#include <dlfcn.h>

namespace trainctl::client {

namespace {

// The soname of libcurl's ABI 4 (Debian: libcurl4 with OpenSSL).
constexpr const char* k_soname = "libcurl.so.4";

// Sets `function` to the symbol `name` of the library `handle`.
template <typename Function>
Result<void> resolve(void* handle, const char* name, Function& function) {
  function = reinterpret_cast<Function>(::dlsym(handle, name));
  if (function == nullptr) return fail(ErrorCode::unavailable, "{} lacks {}", k_soname, name);
  return {};
}

Result<CurlLibrary> resolve_all(void* handle) {
  CurlLibrary curl;
  for (auto resolved : {resolve(handle, "curl_easy_init", curl.easy_init),
                        resolve(handle, "curl_easy_cleanup", curl.easy_cleanup),
                        resolve(handle, "curl_easy_reset", curl.easy_reset),
                        resolve(handle, "curl_easy_setopt", curl.easy_setopt),
                        resolve(handle, "curl_easy_perform", curl.easy_perform),
                        resolve(handle, "curl_easy_getinfo", curl.easy_getinfo),
                        resolve(handle, "curl_easy_strerror", curl.easy_strerror),
                        resolve(handle, "curl_slist_append", curl.slist_append),
                        resolve(handle, "curl_slist_free_all", curl.slist_free_all)}) {
    if (!resolved) return fail(resolved.error());
  }
  return curl;
}

Result<CurlLibrary> load() {
  // Never closed: libcurl keeps global state until the process ends.
  void* handle = ::dlopen(k_soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return fail(ErrorCode::unavailable, "libcurl is not installed: apt-get install libcurl4 ({})",
                ::dlerror());
  }
  auto curl = resolve_all(handle);
  if (!curl) return curl;
  decltype(&::curl_global_init) global_init = nullptr;
  if (auto resolved = resolve(handle, "curl_global_init", global_init); !resolved) {
    return fail(resolved.error());
  }
  if (const CURLcode code = global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
    return fail(ErrorCode::internal, "cannot initialise libcurl: {}", curl->easy_strerror(code));
  }
  return curl;
}

}  // namespace

Result<const CurlLibrary*> curl_library() {
  static const Result<CurlLibrary> loaded = load();
  if (!loaded) return fail(loaded.error());
  return &*loaded;
}

}  // namespace trainctl::client
