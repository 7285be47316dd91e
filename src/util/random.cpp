#include "trainctl/util/random.hpp"

#include <stdexcept>
#include <vector>

#include <openssl/rand.h>

namespace trainctl::util {

namespace {
std::vector<unsigned char> random_bytes(size_t count) {
  std::vector<unsigned char> bytes(count);
  if (RAND_bytes(bytes.data(), static_cast<int>(count)) != 1) {
    throw std::runtime_error("the system random number generator failed");
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
