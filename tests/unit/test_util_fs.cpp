// Finding executables (src/util/fs.cpp): the lookup trainctl uses for trainctld and the service
// for conda.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/service_fixture.hpp"
#include "trainctl/util/fs.hpp"

namespace {

namespace fs = std::filesystem;
using trainctl::testing::TempDir;
using trainctl::util::find_in_path;
using trainctl::util::is_executable_file;

void write_file(const fs::path& file, fs::perms perms) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "#!/bin/sh\n";
  fs::permissions(file, perms);
}

}  // namespace

TEST_CASE("find_in_path takes the first executable file of that name", "[util][fs]") {
  const TempDir dir;
  const auto plain = dir.path() / "plain";
  const auto first = dir.path() / "first";
  const auto second = dir.path() / "second";
  write_file(plain / "tool", fs::perms::owner_read | fs::perms::owner_write);
  write_file(first / "tool", fs::perms::owner_all);
  write_file(second / "tool", fs::perms::owner_all);
  fs::create_directories(second / "folder" / "tool");

  GIVEN("directories where the tool is not executable, then executable twice") {
    const std::string path = plain.string() + "::" + first.string() + ":" + second.string();
    THEN("the first executable one is found") {
      CHECK(find_in_path("tool", path) == first / "tool");
      CHECK(is_executable_file(first / "tool"));
      CHECK_FALSE(is_executable_file(plain / "tool"));
    }
  }
  GIVEN("a directory that holds a folder of that name, or nothing") {
    const std::string path = (second / "folder").string() + ":" + plain.string();
    THEN("nothing is found, and a folder is not an executable file") {
      CHECK(find_in_path("tool", path).empty());
      CHECK(find_in_path("tool", "").empty());
      CHECK_FALSE(is_executable_file(second / "folder" / "tool"));
    }
  }
}
