#pragma once
// SHA-256 (FIPS 180-4), with the CPU's SHA extensions when it has them (src/util/sha256.cpp).
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "trainctl/util/error.hpp"

namespace trainctl::util {

// Incremental hasher: update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  // How blocks are compressed: the CPU's SHA extensions when it has them (best), or the
  // portable code, which tests compare against them.
  enum class Engine { best, portable };
  static bool cpu_has_sha_extensions();

  explicit Sha256(Engine engine = Engine::best);
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  std::string hex_digest();  // lower-case hex; the hasher is finished afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

std::string sha256_hex(std::string_view data);
// Hashes a regular file without following a final symlink; fills `size` with the bytes read.
Result<std::string> sha256_file(const std::filesystem::path& path, uint64_t* size = nullptr);

}  // namespace trainctl::util
