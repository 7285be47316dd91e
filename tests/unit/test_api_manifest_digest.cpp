// The manifest digest the client and the service compute alike: byte for byte the canonical JSON
// the service has always hashed (nlohmann::json::dump of the sorted entries), so that an id the
// client computes names the snapshot the service made from the same files.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "trainctl/api/manifest_digest.hpp"
#include "trainctl/util/sha256.hpp"

using trainctl::api::ManifestEntry;

namespace {

std::string dumped(const std::vector<ManifestEntry>& entries) {
  auto array = nlohmann::json::array();
  for (const auto& entry : entries) {
    array.push_back({{"path", std::string(entry.path)},
                     {"sha256", std::string(entry.sha256)},
                     {"size", entry.size},
                     {"mode", entry.mode}});
  }
  return array.dump();
}

}  // namespace

TEST_CASE("the canonical manifest is the JSON the service hashes", "[api][manifest]") {
  const std::string hash = trainctl::util::sha256_hex("x");
  GIVEN("paths plain and not: quotes, backslashes, control characters, UTF-8") {
    const std::vector<std::string> paths{"a.py",      "dir/b c.txt", "q\"uote",  "back\\slash",
                                         "tab\there", "new\nline",   "\x7f" "del", "caf\xc3\xa9/\xe2\x82\xac.py"};
    std::vector<ManifestEntry> entries;
    for (const auto& path : paths) {
      entries.push_back({.path = path, .sha256 = hash, .size = 123456789012ull, .mode = 0755});
    }
    THEN("each entry is written exactly as nlohmann::json writes it") {
      CHECK(trainctl::api::canonical_manifest(entries) == dumped(entries));
      CHECK(trainctl::api::manifest_digest(entries) == trainctl::util::sha256_hex(dumped(entries)));
    }
  }
  GIVEN("more entries than the digest hashes at a time (it hashes the form as it writes it)") {
    std::vector<std::string> paths;
    for (int i = 0; i < 3000; ++i) paths.push_back("src/module_" + std::to_string(i) + ".py");
    std::vector<ManifestEntry> entries;
    for (const auto& path : paths) entries.push_back({.path = path, .sha256 = hash, .size = 42});
    THEN("the digest is the hash of the whole form") {
      REQUIRE(dumped(entries).size() > (size_t{32} << 10) * 4);
      CHECK(trainctl::api::canonical_manifest(entries) == dumped(entries));
      CHECK(trainctl::api::manifest_digest(entries) == trainctl::util::sha256_hex(dumped(entries)));
    }
  }
  GIVEN("no files") {
    THEN("the empty array") { CHECK(trainctl::api::canonical_manifest({}) == "[]"); }
  }
}
