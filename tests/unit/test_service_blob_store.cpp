// The content-addressed blob store: uploads are streamed to a temp file, verified, then made
// durable and read-only; a failed or abandoned upload leaves nothing (RELIABILITY 24, 25).
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "support/service_fixture.hpp"
#include "trainctl/service/blob_store.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::service::BlobStore;
using trainctl::testing::TempDir;
using trainctl::util::sha256_hex;
namespace fs = std::filesystem;

struct BlobStoreFixture {
  BlobStoreFixture() : blobs(home.path() / "blobs", home.path() / "tmp") {
    REQUIRE(blobs.remove_stale_temp_files().has_value());
  }
  size_t temp_file_count() const {
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(home.path() / "tmp"), fs::directory_iterator()));
  }

  TempDir home;
  BlobStore blobs;
};

// Streams `content` in chunks of `chunk` bytes; the first failure is returned.
trainctl::Result<void> write_in_chunks(BlobStore::Writer& writer, const std::string& content,
                                       size_t chunk) {
  for (size_t offset = 0; offset < content.size(); offset += chunk) {
    const auto size = std::min(chunk, content.size() - offset);
    if (auto written = writer.write(content.data() + offset, size); !written) return written;
  }
  return {};
}

unsigned permissions_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

}  // namespace

TEST_CASE("a verified upload becomes a read-only blob at its content address", "[blobs]") {
  BlobStoreFixture fixture;
  const std::string content(100000, 'x');
  const auto hash = sha256_hex(content);

  auto writer = fixture.blobs.begin_write(1 << 20);
  REQUIRE(writer.has_value());
  REQUIRE(write_in_chunks(**writer, content, 4096).has_value());
  auto size = (*writer)->commit(hash);

  THEN("its size is returned and the file holds exactly the bytes, mode 0444") {
    REQUIRE(size.has_value());
    CHECK(*size == content.size());
    const auto path = fixture.blobs.path_of(hash);
    CHECK(path == fixture.home.path() / "blobs" / hash.substr(0, 2) / hash);
    CHECK(fixture.blobs.exists(hash));
    CHECK(permissions_of(path) == 0444);
    CHECK(trainctl::util::read_file(path).value() == content);
    CHECK(fixture.temp_file_count() == 0);
  }
  THEN("the finished writer refuses more bytes") {
    CHECK_FALSE((*writer)->write("y", 1).has_value());
  }
  WHEN("the same content is uploaded again") {
    auto second = fixture.blobs.begin_write(1 << 20);
    REQUIRE(second.has_value());
    REQUIRE(write_in_chunks(**second, content, 65536).has_value());
    THEN("it commits too, and the blob is unchanged") {
      CHECK((*second)->commit(hash).value() == content.size());
      CHECK(trainctl::util::read_file(fixture.blobs.path_of(hash)).value() == content);
      CHECK(fixture.temp_file_count() == 0);
    }
  }
}

TEST_CASE("an empty upload is a blob too", "[blobs]") {
  BlobStoreFixture fixture;
  auto writer = fixture.blobs.begin_write(10);
  REQUIRE(writer.has_value());
  CHECK((*writer)->commit(sha256_hex("")).value() == 0);
  CHECK(fixture.blobs.exists(sha256_hex("")));
}

TEST_CASE("an upload whose hash differs leaves nothing behind", "[blobs]") {
  BlobStoreFixture fixture;
  const auto claimed = sha256_hex("what the client said");

  auto writer = fixture.blobs.begin_write(1024);
  REQUIRE(writer.has_value());
  REQUIRE((*writer)->write("what it sent", 12).has_value());
  auto committed = (*writer)->commit(claimed);

  THEN("it is an invalid argument naming both hashes") {
    REQUIRE_FALSE(committed.has_value());
    CHECK(committed.error().code == ErrorCode::invalid_argument);
    CHECK(committed.error().message.find(claimed) != std::string::npos);
    CHECK(committed.error().message.find(sha256_hex("what it sent")) != std::string::npos);
  }
  THEN("no blob and no temp file exist") {
    CHECK_FALSE(fixture.blobs.exists(claimed));
    CHECK_FALSE(fixture.blobs.exists(sha256_hex("what it sent")));
    CHECK(fixture.temp_file_count() == 0);
  }
}

TEST_CASE("an upload over the size cap is refused and removed", "[blobs]") {
  BlobStoreFixture fixture;
  const std::string content(5000, 'z');
  auto writer = fixture.blobs.begin_write(4096);
  REQUIRE(writer.has_value());

  auto written = write_in_chunks(**writer, content, 1000);
  THEN("the write past the cap fails with payload_too_large and the temp file is gone") {
    REQUIRE_FALSE(written.has_value());
    CHECK(written.error().code == ErrorCode::payload_too_large);
    CHECK(fixture.temp_file_count() == 0);
    AND_THEN("it cannot be committed") {
      CHECK_FALSE((*writer)->commit(sha256_hex(content)).has_value());
      CHECK_FALSE(fixture.blobs.exists(sha256_hex(content)));
    }
  }
}

TEST_CASE("an abandoned upload removes its temp file", "[blobs]") {
  BlobStoreFixture fixture;
  auto writer = fixture.blobs.begin_write(1024);
  REQUIRE(writer.has_value());
  REQUIRE((*writer)->write("partial", 7).has_value());
  CHECK(fixture.temp_file_count() == 1);

  WHEN("the writer is destroyed without commit") {
    writer->reset();
    THEN("the temp file is gone and no blob exists") {
      CHECK(fixture.temp_file_count() == 0);
      CHECK_FALSE(fixture.blobs.exists(sha256_hex("partial")));
    }
  }
}

TEST_CASE("temp files left by a crash are removed at start", "[blobs]") {
  TempDir home;
  const auto tmp = home.path() / "tmp";
  fs::create_directories(tmp / "staging-dir");
  std::ofstream(tmp / "0123abcd") << "half an upload";
  std::ofstream(tmp / "staging-dir" / "file") << "half an archive";
  const auto hash = sha256_hex("kept");
  fs::create_directories(home.path() / "blobs" / hash.substr(0, 2));
  std::ofstream(home.path() / "blobs" / hash.substr(0, 2) / hash) << "kept";

  BlobStore blobs(home.path() / "blobs", tmp);
  REQUIRE(blobs.remove_stale_temp_files().has_value());

  THEN("tmp/ is empty and committed blobs are untouched") {
    CHECK(fs::is_directory(tmp));
    CHECK(fs::is_empty(tmp));
    CHECK(blobs.exists(hash));
  }
}

TEST_CASE("names that are not SHA-256 hashes never exist", "[blobs][security]") {
  BlobStoreFixture fixture;
  CHECK_FALSE(fixture.blobs.exists("../tmp"));
  CHECK_FALSE(fixture.blobs.exists(""));
  CHECK_FALSE(fixture.blobs.exists(std::string(64, 'G')));
}

TEST_CASE("the blobs of a large snapshot are checked at once, lost ones named in order",
          "[blobs][reliability]") {
  BlobStoreFixture fixture;
  // Enough blobs that the check is spread over threads (1,000 a thread).
  std::vector<std::string> hashes;
  for (int i = 0; i < 3000; ++i) {
    const std::string content = "blob " + std::to_string(i);
    auto writer = fixture.blobs.begin_write(1 << 10);
    REQUIRE(writer.has_value());
    REQUIRE((*writer)->write(content.data(), content.size()).has_value());
    hashes.push_back(sha256_hex(content));
    REQUIRE((*writer)->commit(hashes.back()).has_value());
  }
  const std::string never_uploaded = sha256_hex("never uploaded");
  hashes.insert(hashes.begin() + 1500, never_uploaded);

  WHEN("every blob is as stored") {
    std::vector<std::string> stored(hashes);
    std::erase(stored, never_uploaded);
    THEN("none is lost") { CHECK(fixture.blobs.not_intact(stored).empty()); }
  }
  WHEN("one blob is deleted by hand, one is changed through a chmod, one was never uploaded") {
    const std::string deleted = hashes[10];
    const std::string changed = hashes[2990];
    fs::remove(fixture.blobs.path_of(deleted));
    const auto changed_path = fixture.blobs.path_of(changed);
    fs::permissions(changed_path, fs::perms::owner_write, fs::perm_options::add);
    std::ofstream(changed_path, std::ios::trunc) << "not what its name says";

    THEN("exactly those three are named, in the order asked") {
      CHECK(fixture.blobs.not_intact(hashes) ==
            std::vector<std::string>{deleted, never_uploaded, changed});
      AND_THEN("the changed one is quarantined: it counts as missing from now on") {
        CHECK_FALSE(fixture.blobs.exists(changed));
      }
    }
  }
}
