// SHA-256 of strings and files: the digests every snapshot, blob and idempotency check rests on.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "support/service_fixture.hpp"
#include "trainctl/util/sha256.hpp"

using trainctl::ErrorCode;
using trainctl::util::Sha256;
using trainctl::util::sha256_file;
using trainctl::util::sha256_hex;

TEST_CASE("sha256 of strings matches the standard's test vectors", "[util][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 pieces;
  pieces.update("ab");
  pieces.update("");
  pieces.update("c");
  CHECK(pieces.hex_digest() == sha256_hex("abc"));
}

namespace {

// OpenSSL's SHA-256 of `data`, in hex: the oracle.
std::string openssl_sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) == 1);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace

TEST_CASE("sha256 agrees with OpenSSL's on every length and however the input is split",
          "[util][sha256]") {
  if (!Sha256::cpu_has_sha_extensions()) WARN("this CPU has no SHA extensions: only the portable code is checked");
  std::mt19937_64 random(20261205);
  std::string data(70'000, '\0');
  for (char& byte : data) byte = static_cast<char>(random());
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 200; ++n) lengths.push_back(n);  // every padding case, 0 to 3 blocks
  for (const size_t n : {size_t{447}, size_t{448}, size_t{511}, size_t{512}, size_t{4095},
                         size_t{65'536}, size_t{69'999}}) {
    lengths.push_back(n);
  }
  for (const auto engine : {Sha256::Engine::best, Sha256::Engine::portable}) {
    for (const size_t n : lengths) {
      const std::string_view input(data.data(), n);
      const std::string expected = openssl_sha256(input);
      INFO("length " << n << (engine == Sha256::Engine::portable ? ", portable" : ""));
      Sha256 whole(engine);
      whole.update(input);
      REQUIRE(whole.hex_digest() == expected);
      // In random pieces, some empty, some spanning blocks.
      Sha256 pieces(engine);
      for (size_t at = 0; at < n;) {
        const size_t piece = std::min<size_t>(n - at, random() % 150);
        pieces.update(input.substr(at, piece));
        at += piece;
      }
      REQUIRE(pieces.hex_digest() == expected);
    }
  }
  CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");  // FIPS 180-2
}

TEST_CASE("sha256 of a file is that of its bytes, whatever its size", "[util][sha256]") {
  const trainctl::testing::TempDir dir;
  // Empty, small, and past the largest read buffer (1 MiB) by a byte.
  for (const size_t size : {size_t{0}, size_t{12}, size_t{4096}, (size_t{3} << 20) + 1}) {
    std::string content(size, '\0');
    for (size_t i = 0; i < size; ++i) content[i] = static_cast<char>(i * 7 + i / 4096);
    const auto file = dir.path() / ("f" + std::to_string(size));
    std::ofstream(file, std::ios::binary) << content;
    uint64_t read = 99;
    const auto digest = sha256_file(file, &read);
    INFO(size);
    REQUIRE(digest.has_value());
    CHECK(*digest == sha256_hex(content));
    CHECK(read == size);
  }
}

TEST_CASE("sha256 of a missing file or a final symlink is an I/O error", "[util][sha256]") {
  const trainctl::testing::TempDir dir;
  const auto missing = sha256_file(dir.path() / "missing");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == ErrorCode::io);
  std::ofstream(dir.path() / "target") << "x";
  std::filesystem::create_symlink(dir.path() / "target", dir.path() / "link");
  const auto link = sha256_file(dir.path() / "link");
  REQUIRE_FALSE(link.has_value());
  CHECK(link.error().code == ErrorCode::io);
}
