#include "trainctl/util/random.hpp"

#include <stdexcept>
#include <vector>

#include <sys/random.h>

#include <cerrno>

namespace trainctl::util {

namespace {
// From the kernel's random number generator (getrandom(2)), which blocks only until it is
// seeded at boot: OpenSSL's RAND_bytes would first set up its own generator, seeded from the same
// source, at a cost to every short command of the CLI.
std::vector<unsigned char> random_bytes(size_t count) {
  std::vector<unsigned char> bytes(count);
  size_t filled = 0;
  while (filled < count) {
    const ssize_t got = ::getrandom(bytes.data() + filled, count - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error("the system random number generator failed");
    filled += static_cast<size_t>(got);
  }
  return bytes;
}
}  // namespace

std::string random_hex(size_t bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : random_bytes(bytes)) {
    out.push_back(k_hex[b >> 4]);
    out.push_back(k_hex[b & 0xF]);
  }
  return out;
}

std::string random_base36(size_t length) {
  static constexpr char k_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  // 252 = 7 * 36: reject the top values so every character is equally likely.
  while (out.size() < length) {
    for (unsigned char b : random_bytes(length)) {
      if (b < 252 && out.size() < length) out.push_back(k_alphabet[b % 36]);
    }
  }
  return out;
}

}  // namespace trainctl::util
