#include "trainctl/util/sha256.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

// SHA-256 (FIPS 180-4) written here rather than taken from OpenSSL or nettle: both probe the CPU
// with `cpuid` in a constructor at every start of every program that links them, whether it
// hashes or not, and on a virtual machine each `cpuid` traps to the hypervisor. That was ~0.02
// ms of every trainctl command (bench/README.md, "The service's share, one YAML reader, no
// OpenSSL in the CLI"). Blocks are compressed with the CPU's SHA extensions when it has them
// (found in what glibc already read at start, no `cpuid` of our own), as fast as OpenSSL's;
// otherwise in portable code. tests/unit/test_util_sha256.cpp checks both against the
// standard's vectors and against OpenSSL on random inputs.
#if defined(__x86_64__)
#include <immintrin.h>
#include <sys/platform/x86.h>
#endif

namespace trainctl::util {

namespace {

constexpr std::array<uint32_t, 64> k_round_constants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::array<uint32_t, 8> k_initial_state = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

uint32_t load_big_endian(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

// The standard's compression function, one 64-byte block at a time.
void compress_portable(std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks) {
  for (; blocks > 0; --blocks, data += 64) {
    std::array<uint32_t, 64> w{};
    for (size_t t = 0; t < 16; ++t) w[t] = load_big_endian(data + 4 * t);
    for (size_t t = 16; t < 64; ++t) {
      const uint32_t s0 = std::rotr(w[t - 15], 7) ^ std::rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = std::rotr(w[t - 2], 17) ^ std::rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, h] = state;
    for (size_t t = 0; t < 64; ++t) {
      const uint32_t t1 = h + (std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25)) +
                          ((e & f) ^ (~e & g)) + k_round_constants[t] + w[t];
      const uint32_t t2 = (std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22)) +
                          ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const std::array<uint32_t, 8> added = {a, b, c, d, e, f, g, h};
    for (size_t i = 0; i < 8; ++i) state[i] += added[i];
  }
}

#if defined(__x86_64__)
// The same with the SHA extensions (SHA256RNDS2 does two rounds, SHA256MSG1/2 the message
// schedule), four words of the schedule per vector. The state is kept as ABEF and CDGH, the
// layout the instructions use.
__attribute__((target("sha,sse4.1,ssse3"))) void compress_sha_extensions(
    std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  const __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0])), 0xB1);
  const __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4])), 0x1B);
  __m128i abef = _mm_alignr_epi8(dcba, hgfe, 8);
  __m128i cdgh = _mm_blend_epi16(hgfe, dcba, 0xF0);
  for (; blocks > 0; --blocks, data += 64) {
    const __m128i abef_before = abef;
    const __m128i cdgh_before = cdgh;
    __m128i w[4];  // words 4i..4i+3 of the schedule, at w[i % 4]
#pragma GCC unroll 16
    for (size_t i = 0; i < 16; ++i) {
      if (i < 4) {
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i)), byte_swap);
      } else {
        __m128i next = _mm_sha256msg1_epu32(w[(i - 4) % 4], w[(i - 3) % 4]);
        next = _mm_add_epi32(next, _mm_alignr_epi8(w[(i - 1) % 4], w[(i - 2) % 4], 4));
        w[i % 4] = _mm_sha256msg2_epu32(next, w[(i - 1) % 4]);
      }
      __m128i words = _mm_add_epi32(
          w[i % 4], _mm_loadu_si128(reinterpret_cast<const __m128i*>(&k_round_constants[4 * i])));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, words);
      words = _mm_shuffle_epi32(words, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, words);
    }
    abef = _mm_add_epi32(abef, abef_before);
    cdgh = _mm_add_epi32(cdgh, cdgh_before);
  }
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), _mm_alignr_epi8(dchg, feba, 8));
}
#endif

using CompressFunction = void (*)(std::array<uint32_t, 8>&, const uint8_t*, size_t);

bool sha_extensions_active() {
#if defined(__x86_64__)
  return CPU_FEATURE_ACTIVE(SHA) && CPU_FEATURE_ACTIVE(SSE4_1) && CPU_FEATURE_ACTIVE(SSSE3);
#else
  return false;
#endif
}

CompressFunction compress_for(Sha256::Engine engine) {
#if defined(__x86_64__)
  if (engine == Sha256::Engine::best && sha_extensions_active()) return compress_sha_extensions;
#endif
  (void)engine;
  return compress_portable;
}

}  // namespace

struct Sha256::Impl {
  CompressFunction compress = compress_portable;
  std::array<uint32_t, 8> state = k_initial_state;
  std::array<uint8_t, 64> pending{};  // the bytes of a block not yet complete
  size_t pending_size = 0;
  uint64_t total_bytes = 0;
};

bool Sha256::cpu_has_sha_extensions() { return sha_extensions_active(); }

Sha256::Sha256(Engine engine) : m_impl(std::make_unique<Impl>()) {
  m_impl->compress = compress_for(engine);
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) {
  Impl& hash = *m_impl;
  auto bytes = static_cast<const uint8_t*>(data);
  hash.total_bytes += size;
  if (hash.pending_size > 0) {
    const size_t taken = std::min(size, 64 - hash.pending_size);
    std::memcpy(hash.pending.data() + hash.pending_size, bytes, taken);
    hash.pending_size += taken;
    bytes += taken;
    size -= taken;
    if (hash.pending_size < 64) return;
    hash.compress(hash.state, hash.pending.data(), 1);
    hash.pending_size = 0;
  }
  const size_t blocks = size / 64;
  if (blocks > 0) hash.compress(hash.state, bytes, blocks);
  const size_t rest = size % 64;
  std::memcpy(hash.pending.data(), bytes + 64 * blocks, rest);
  hash.pending_size = rest;
}

std::string Sha256::hex_digest() {
  Impl& hash = *m_impl;
  // Padding: a 1 bit, zeros, and the message length in bits (big-endian) to end a block.
  const uint64_t bits = hash.total_bytes * 8;
  std::array<uint8_t, 72> tail{};
  tail[0] = 0x80;
  const size_t zeros = (hash.pending_size < 56 ? 56 : 120) - hash.pending_size - 1;
  for (size_t i = 0; i < 8; ++i) tail[1 + zeros + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  update(tail.data(), 1 + zeros + 8);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const uint32_t word : hash.state) {
    for (int shift = 28; shift >= 0; shift -= 4) out.push_back(k_hex[(word >> shift) & 0xF]);
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
