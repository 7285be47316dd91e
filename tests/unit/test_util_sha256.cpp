// SHA-256 of strings and files: the digests every snapshot, blob and idempotency check rests on.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
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
