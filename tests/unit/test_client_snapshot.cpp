// Scanning a source directory into a snapshot manifest, and uploading it over a fake service.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "fakes/fake_transport.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/client/snapshot.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using trainctl::ErrorCode;
using trainctl::client::scan_source_directory;
using trainctl::client::ScanOptions;
using trainctl::client::SnapshotScan;
using trainctl::testing::TempDir;
using Json = nlohmann::json;

// Writes `content` to root/relative (creating parents) with an mtime an hour ago, so the hash
// cache trusts it.
void write(const fs::path& root, const std::string& relative, const std::string& content) {
  const auto path = root / relative;
  fs::create_directories(path.parent_path());
  REQUIRE(trainctl::util::write_file_atomic(path, content).has_value());
  fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(1));
}

// The inode of `path`: a file replaced atomically (rename over it) gets a new one.
ino_t inode_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_ino;
}

std::vector<std::string> paths_of(const SnapshotScan& scan) {
  std::vector<std::string> out;
  for (const auto& file : scan.files) out.push_back(file.path);
  return out;
}

bool any_warning_contains(const SnapshotScan& scan, const std::string& text) {
  for (const auto& warning : scan.warnings) {
    if (warning.find(text) != std::string::npos) return true;
  }
  return false;
}

// Overwrites the bytes of a file in place, keeping its size, inode and mtime: only a scan that
// reads the file again can notice.
void overwrite_keeping_stamp(const fs::path& path, const std::string& content) {
  const auto mtime = fs::last_write_time(path);
  REQUIRE(fs::file_size(path) == content.size());
  {
    std::FILE* file = std::fopen(path.c_str(), "r+");
    REQUIRE(file != nullptr);
    std::fwrite(content.data(), 1, content.size(), file);
    std::fclose(file);
  }
  fs::last_write_time(path, mtime);
}

}  // namespace

TEST_CASE("a scan lists every regular file with its hash, size and mode", "[client][snapshot]") {
  GIVEN("a project with a package, an executable script and a .git directory") {
    const TempDir dir;
    write(dir.path(), "train.py", "print('train')\n");
    write(dir.path(), "pkg/model.py", "class Model: pass\n");
    write(dir.path(), "run.sh", "#!/bin/sh\n");
    fs::permissions(dir.path() / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
    write(dir.path(), ".git/HEAD", "ref: refs/heads/main\n");
    write(dir.path(), "pkg/.git", "gitdir: ../.git/modules/pkg\n");

    WHEN("it is scanned") {
      const auto scan = scan_source_directory(dir.path());

      THEN("the files are listed sorted, .git is left out, and nothing was warned about") {
        REQUIRE(scan.has_value());
        CHECK(paths_of(*scan) == std::vector<std::string>{"pkg/model.py", "run.sh", "train.py"});
        CHECK(scan->warnings.empty());
        CHECK(scan->total_bytes == 18 + 10 + 15);
        const auto& train = scan->files[2];
        CHECK(train.sha256 == trainctl::util::sha256_hex("print('train')\n"));
        CHECK(train.size == 15);
        CHECK(train.mode == 0644);
        CHECK(train.source == dir.path() / "train.py");
        CHECK(scan->files[1].mode == 0755);
      }
      AND_THEN("the manifest is what the service expects") {
        const auto manifest = scan->manifest();
        REQUIRE(manifest["files"].size() == 3);
        CHECK(manifest["files"][2] ==
              Json{{"path", "train.py"},
                   {"sha256", trainctl::util::sha256_hex("print('train')\n")},
                   {"size", 15},
                   {"mode", 0644}});
      }
    }
  }
}

TEST_CASE(".trainctlignore leaves files and directories out", "[client][snapshot]") {
  const TempDir dir;
  write(dir.path(), ".trainctlignore", "# big things\n/data/\n*.ckpt\n!best.ckpt\nlogs/**\n");
  write(dir.path(), "train.py", "x");
  write(dir.path(), "data/train.csv", "1,2");
  write(dir.path(), "src/data/loader.py", "y");
  write(dir.path(), "epoch1.ckpt", "w");
  write(dir.path(), "best.ckpt", "w");
  write(dir.path(), "logs/today.log", "z");

  const auto scan = scan_source_directory(dir.path());

  REQUIRE(scan.has_value());
  CHECK(paths_of(*scan) ==
        std::vector<std::string>{".trainctlignore", "best.ckpt", "src/data/loader.py", "train.py"});
}

TEST_CASE(".trainctlignore files in subdirectories apply below their directory",
          "[client][snapshot]") {
  const TempDir dir;
  write(dir.path(), ".trainctlignore", "*.log\n/cache/\n");
  write(dir.path(), "train.py", "x");
  write(dir.path(), "run.log", "l");
  write(dir.path(), "data/.trainctlignore", "/raw/\n*.csv\n!keep.log\n");
  write(dir.path(), "data/raw/big.bin", "b");
  write(dir.path(), "data/a.csv", "1");
  write(dir.path(), "data/keep.log", "k");
  write(dir.path(), "data/x/raw/small.bin", "s");
  write(dir.path(), "other/b.csv", "2");
  write(dir.path(), "cache/.trainctlignore", "!*\n");
  write(dir.path(), "cache/blob", "c");

  const auto scan = scan_source_directory(dir.path());

  REQUIRE(scan.has_value());
  CHECK(paths_of(*scan) == std::vector<std::string>{".trainctlignore", "data/.trainctlignore",
                                                     "data/keep.log", "data/x/raw/small.bin",
                                                     "other/b.csv", "train.py"});
  CHECK(scan->warnings.empty());
}

TEST_CASE("symlinks and special files are skipped with a warning, never followed",
          "[client][snapshot][security]") {
  const TempDir dir;
  write(dir.path(), "train.py", "x");
  fs::create_directory_symlink("/etc", dir.path() / "etc_link");
  fs::create_symlink("/etc/passwd", dir.path() / "passwd_link");
  fs::create_symlink("loop", dir.path() / "loop");
  fs::create_directory(dir.path() / "sub");
  fs::create_directory_symlink("..", dir.path() / "sub" / "up");
  REQUIRE(::mkfifo((dir.path() / "pipe").c_str(), 0644) == 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const auto socket_path = (dir.path() / "sock").string();
  REQUIRE(socket_path.size() < sizeof address.sun_path);
  std::copy(socket_path.begin(), socket_path.end(), address.sun_path);
  REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);

  const auto scan = scan_source_directory(dir.path());
  ::close(sock);

  REQUIRE(scan.has_value());
  CHECK(paths_of(*scan) == std::vector<std::string>{"train.py"});
  CHECK(any_warning_contains(*scan, "etc_link: a symbolic link to /etc"));
  CHECK(any_warning_contains(*scan, "passwd_link: a symbolic link to /etc/passwd"));
  CHECK(any_warning_contains(*scan, "loop: a symbolic link"));
  CHECK(any_warning_contains(*scan, "sub/up: a symbolic link"));
  CHECK(any_warning_contains(*scan, "pipe: a FIFO"));
  CHECK(any_warning_contains(*scan, "sock: a socket"));
  CHECK(scan->warnings.size() == 6);
}

TEST_CASE("the source directory must be a directory", "[client][snapshot]") {
  const TempDir dir;

  SECTION("a FIFO is refused without being opened") {
    REQUIRE(::mkfifo((dir.path() / "pipe").c_str(), 0644) == 0);
    const auto scan = scan_source_directory(dir.path() / "pipe");
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(scan.error().message, Catch::Contains("not a directory"));
  }
  SECTION("a missing directory is not found") {
    const auto scan = scan_source_directory(dir.path() / "nope");
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().code == ErrorCode::not_found);
  }
  SECTION("a symlink to a directory names it") {
    write(dir.path(), "project/train.py", "x");
    fs::create_directory_symlink(dir.path() / "project", dir.path() / "current");
    const auto scan = scan_source_directory(dir.path() / "current/");
    REQUIRE(scan.has_value());
    CHECK(paths_of(*scan) == std::vector<std::string>{"train.py"});
  }
}

TEST_CASE("a source directory over a limit is refused with its largest files",
          "[client][snapshot]") {
  GIVEN("twelve files of 1 to 12 KiB") {
    const TempDir dir;
    for (int i = 1; i <= 12; ++i) {
      write(dir.path(), fmt::format("data/file{:02}.bin", i),
            std::string(static_cast<size_t>(i) * 1024, 'x'));
    }
    ScanOptions options;

    WHEN("they are over the size limit") {
      options.limits.max_total_bytes = 50 * 1024;
      const auto scan = scan_source_directory(dir.path(), options);

      THEN("the error gives the total and the ten largest files, largest first, with sizes") {
        REQUIRE_FALSE(scan.has_value());
        CHECK(scan.error().code == ErrorCode::payload_too_large);
        const auto& message = scan.error().message;
        CHECK_THAT(message, Catch::Contains("holds 12 files and 78.0 KiB, over the limit of "
                                            "100000 files and 50.0 KiB"));
        CHECK_THAT(message, Catch::Contains("The 10 largest files (75.0 KiB of the 78.0 KiB):\n"
                                            "    12.0 KiB  data/file12.bin\n"
                                            "    11.0 KiB  data/file11.bin\n"));
        CHECK_THAT(message, Catch::Contains("     3.0 KiB  data/file03.bin\n"));
        CHECK_THAT(message, !Catch::Contains("file02.bin") && !Catch::Contains("file01.bin"));
      }
      AND_THEN("it says where to list them to leave them out") {
        CHECK_THAT(scan.error().message,
                   Catch::Contains((dir.path() / ".trainctlignore").string() +
                                   " (gitignore syntax"));
      }
    }
    WHEN("they are over the file count limit") {
      options.limits.max_files = 11;
      const auto scan = scan_source_directory(dir.path(), options);

      THEN("the same report is given") {
        REQUIRE_FALSE(scan.has_value());
        CHECK(scan.error().code == ErrorCode::payload_too_large);
        CHECK_THAT(scan.error().message, Catch::Contains("holds 12 files"));
        CHECK_THAT(scan.error().message, Catch::Contains("12.0 KiB  data/file12.bin"));
      }
    }
  }
}

TEST_CASE("the hash cache spares reading unchanged files", "[client][snapshot][cache]") {
  GIVEN("a project scanned once with a hash cache") {
    const TempDir dir;
    const auto project = dir.path() / "project";
    write(project, "train.py", "version 1\n");
    write(project, "lib/util.py", "helpers\n");
    ScanOptions options;
    options.hash_cache_file = dir.path() / "cache" / "hashes";
    const auto first = scan_source_directory(project, options);
    REQUIRE(first.has_value());
    REQUIRE(first->hashed_files == 2);
    REQUIRE(fs::exists(options.hash_cache_file));

    WHEN("it is scanned again unchanged") {
      const auto cache_inode = inode_of(options.hash_cache_file);
      const auto second = scan_source_directory(project, options);
      THEN("no file is hashed, the manifest is the same and the cache file is not rewritten") {
        REQUIRE(second.has_value());
        CHECK(second->hashed_files == 0);
        CHECK(second->manifest() == first->manifest());
        CHECK(inode_of(options.hash_cache_file) == cache_inode);
      }
    }
    WHEN("a file is deleted") {
      fs::remove(project / "lib" / "util.py");
      REQUIRE(scan_source_directory(project, options).has_value());
      THEN("the cache forgets it and keeps the others") {
        const auto cached = trainctl::util::read_file(options.hash_cache_file);
        REQUIRE(cached.has_value());
        CHECK_THAT(*cached, !Catch::Contains("lib/util.py"));
        CHECK_THAT(*cached, Catch::Contains(" train.py\n"));
        CHECK(scan_source_directory(project, options)->hashed_files == 0);
      }
    }
    WHEN("a file's bytes change behind an unchanged size, mtime and inode") {
      overwrite_keeping_stamp(project / "train.py", "VERSION 1\n");
      const auto second = scan_source_directory(project, options);
      THEN("the cached hash is used: the file was not read again") {
        REQUIRE(second.has_value());
        CHECK(second->hashed_files == 0);
        CHECK(second->files[1].sha256 == trainctl::util::sha256_hex("version 1\n"));
      }
    }
    WHEN("a file is edited") {
      write(project, "train.py", "version 2\n");
      const auto second = scan_source_directory(project, options);
      THEN("only that file is hashed again") {
        REQUIRE(second.has_value());
        CHECK(second->hashed_files == 1);
        CHECK(second->files[1].sha256 == trainctl::util::sha256_hex("version 2\n"));
      }
    }
    WHEN("a file was modified just before the scan") {
      REQUIRE(trainctl::util::write_file_atomic(project / "train.py", "version 3\n").has_value());
      REQUIRE(scan_source_directory(project, options)->hashed_files == 1);
      const auto third = scan_source_directory(project, options);
      THEN("its hash is not trusted to the cache: the next scan reads it again") {
        REQUIRE(third.has_value());
        CHECK(third->hashed_files == 1);
        CHECK(third->files[1].sha256 == trainctl::util::sha256_hex("version 3\n"));
      }
    }
    WHEN("the cache file is corrupt") {
      REQUIRE(trainctl::util::write_file_atomic(options.hash_cache_file, "garbage").has_value());
      const auto second = scan_source_directory(project, options);
      THEN("every file is hashed again, without an error") {
        REQUIRE(second.has_value());
        CHECK(second->hashed_files == 2);
        CHECK(second->manifest() == first->manifest());
      }
    }
  }
}

TEST_CASE("an upload sends only the blobs the service lacks", "[client][snapshot][upload]") {
  const TempDir dir;
  write(dir.path(), "train.py", "print(1)\n");
  write(dir.path(), "copy_of_train.py", "print(1)\n");
  write(dir.path(), "data.csv", "1,2,3\n");
  const auto scan = scan_source_directory(dir.path());
  REQUIRE(scan.has_value());
  const auto train_hash = trainctl::util::sha256_hex("print(1)\n");
  const std::string blobs = "/v1/workspaces/default/blobs";
  trainctl::testing::FakeTransport fake;
  trainctl::client::ApiClient client(fake.share(), "t");

  SECTION("a first upload") {
    fake.add_json("POST", blobs + "/missing", 200, {{"missing", {train_hash}}});
    fake.add_json("PUT", blobs + "/" + train_hash, 201, {{"sha256", train_hash}});
    fake.add_json("POST", "/v1/workspaces/default/snapshots", 201, {{"id", "snap-1"}});
    std::vector<std::pair<uint64_t, uint64_t>> progress;

    const auto report = trainctl::client::upload_snapshot(
        client, "default", *scan,
        [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });

    REQUIRE(report.has_value());
    CHECK(report->snapshot_id == "snap-1");
    CHECK(report->files == 3);
    CHECK(report->uploaded_files == 1);
    CHECK(report->uploaded_bytes == 9);
    CHECK(progress == std::vector<std::pair<uint64_t, uint64_t>>{{0, 9}, {9, 9}});
    const auto asked = Json::parse(fake.requests_to("POST", blobs + "/missing")[0].body);
    CHECK(asked["hashes"].size() == 2);  // identical files are asked for once
    CHECK(fake.requests_to("PUT", blobs)[0].body == "print(1)\n");
    const auto snapshot =
        Json::parse(fake.requests_to("POST", "/v1/workspaces/default/snapshots")[0].body);
    CHECK(snapshot == scan->manifest());
  }
  SECTION("an unchanged resubmit uploads nothing") {
    fake.add_json("POST", blobs + "/missing", 200, {{"missing", Json::array()}});
    fake.add_json("POST", "/v1/workspaces/default/snapshots", 200, {{"id", "snap-1"}});
    const auto report = trainctl::client::upload_snapshot(client, "default", *scan);
    REQUIRE(report.has_value());
    CHECK(report->uploaded_files == 0);
    CHECK(fake.requests_to("PUT", blobs).empty());
  }
  SECTION("a failed blob upload creates no snapshot") {
    fake.add_json("POST", blobs + "/missing", 200, {{"missing", {train_hash}}});
    fake.add_json("PUT", blobs + "/" + train_hash, 507,
                  {{"error", {{"code", "insufficient_storage"}, {"message", "disk full"}}}});
    const auto report = trainctl::client::upload_snapshot(client, "default", *scan);
    REQUIRE_FALSE(report.has_value());
    CHECK(report.error().code == ErrorCode::insufficient_storage);
    CHECK(fake.requests_to("POST", "/v1/workspaces/default/snapshots").empty());
  }
}

TEST_CASE("missing blobs are asked for in batches of at most 10,000",
          "[client][snapshot][upload]") {
  SnapshotScan scan;
  for (int i = 0; i < 10'001; ++i) {
    scan.files.push_back({.path = fmt::format("f{}", i),
                          .sha256 = trainctl::util::sha256_hex(std::to_string(i)),
                          .size = 1,
                          .mode = 0644,
                          .source = {}});
  }
  trainctl::testing::FakeTransport fake;
  trainctl::client::ApiClient client(fake.share(), "t");
  const std::string missing = "/v1/workspaces/default/blobs/missing";
  fake.add_json("POST", missing, 200, {{"missing", Json::array()}});
  fake.add_json("POST", missing, 200, {{"missing", Json::array()}});
  fake.add_json("POST", "/v1/workspaces/default/snapshots", 201, {{"id", "snap-big"}});

  const auto report = trainctl::client::upload_snapshot(client, "default", scan);

  REQUIRE(report.has_value());
  const auto batches = fake.requests_to("POST", missing);
  REQUIRE(batches.size() == 2);
  CHECK(Json::parse(batches[0].body)["hashes"].size() == 10'000);
  CHECK(Json::parse(batches[1].body)["hashes"].size() == 1);
}
