#include "trainctl/util/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

// OpenSSL's own SHA-256 functions, not its EVP interface: they run the same code (with the CPU's
// SHA extensions), but EVP brings OpenSSL's provider framework into the program, whose 330 KB of
// relocated tables cost the CLI about a hundred page faults at every start (bench/README.md).
// OpenSSL 3 marks them deprecated, not removed.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

namespace trainctl::util {

struct Sha256::Impl {
  SHA256_CTX context{};
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) { SHA256_Init(&m_impl->context); }

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) { SHA256_Update(&m_impl->context, data, size); }

std::string Sha256::hex_digest() {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &m_impl->context);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (const unsigned char byte : digest) {
    out.push_back(k_hex[byte >> 4]);
    out.push_back(k_hex[byte & 0xF]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.hex_digest();
}

Result<std::string> sha256_file(const std::filesystem::path& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return fail(ErrorCode::io, "cannot open {}: {}", path.string(), std::strerror(errno));
  }
  Sha256 hasher;
  std::vector<char> buffer(1 << 20);
  uint64_t total = 0;
  while (true) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return fail(ErrorCode::io, "cannot read {}: {}", path.string(), std::strerror(saved));
    }
    if (got == 0) break;
    hasher.update(buffer.data(), static_cast<size_t>(got));
    total += static_cast<uint64_t>(got);
  }
  ::close(fd);
  if (size != nullptr) *size = total;
  return hasher.hex_digest();
}

}  // namespace trainctl::util
