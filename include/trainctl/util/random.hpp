#pragma once
#include <cstddef>
#include <string>

namespace trainctl::util {
// `bytes` cryptographically random bytes (OpenSSL RAND_bytes) as lower-case hex.
std::string random_hex(size_t bytes);
// A short random identifier of `length` characters from [a-z0-9], from the same source.
std::string random_base36(size_t length);
}  // namespace trainctl::util
