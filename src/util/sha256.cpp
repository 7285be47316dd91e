#include "trainctl/util/sha256.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

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
  // A buffer the size of the file (up to 1 MiB), not zeroed: a small file, the usual source
  // file, costs a page or two instead of a megabyte of fresh pages.
  struct stat info {};
  const uint64_t expected = ::fstat(fd, &info) == 0 && info.st_size > 0 ? static_cast<uint64_t>(info.st_size) : 0;
  const size_t buffer_size = static_cast<size_t>(std::clamp<uint64_t>(expected + 1, 4096, 1 << 20));
  const auto buffer = std::make_unique_for_overwrite<char[]>(buffer_size);
  uint64_t total = 0;
  while (true) {
    const ssize_t got = ::read(fd, buffer.get(), buffer_size);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return fail(ErrorCode::io, "cannot read {}: {}", path.string(), std::strerror(saved));
    }
    if (got == 0) break;
    hasher.update(buffer.get(), static_cast<size_t>(got));
    total += static_cast<uint64_t>(got);
  }
  ::close(fd);
  if (size != nullptr) *size = total;
  return hasher.hex_digest();
}

}  // namespace trainctl::util
