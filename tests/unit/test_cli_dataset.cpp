// `dataset` references as users type them: NAME, NAME:VERSION, NAME@latest, and nothing else.
#include <catch2/catch.hpp>

#include "trainctl/cli/commands/dataset.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::cli::parse_dataset_ref;

}  // namespace

TEST_CASE("a dataset reference names a dataset and maybe a version", "[cli][dataset]") {
  SECTION("given a bare name, no version") {
    const auto ref = parse_dataset_ref("mnist");
    REQUIRE(ref.has_value());
    CHECK(ref->name == "mnist");
    CHECK(ref->version.empty());
  }
  SECTION("given NAME:VERSION, that version") {
    const auto ref = parse_dataset_ref("mnist-v2.small:12");
    REQUIRE(ref.has_value());
    CHECK(ref->name == "mnist-v2.small");
    CHECK(ref->version == "12");
  }
  SECTION("given NAME@latest, the latest version") {
    const auto ref = parse_dataset_ref("mnist@latest");
    REQUIRE(ref.has_value());
    CHECK(ref->version == "latest");
  }
}

TEST_CASE("a malformed dataset reference is a usage error", "[cli][dataset]") {
  for (const auto* text : {"mnist:", "mnist:0", "mnist:01", "mnist:-1", "mnist:latest", "mnist@3",
                           "mnist@", "mnist:1:2", "mnist@latest:1", ":3", "@latest", "",
                           "../mnist", "mnist:1x", "mnist:9999999999"}) {
    INFO(text);
    const auto ref = parse_dataset_ref(text);
    REQUIRE_FALSE(ref.has_value());
    CHECK(ref.error().code == ErrorCode::usage);
  }
}

TEST_CASE("dataset create takes either a path or URLs, and tags as key=value", "[cli][dataset]") {
  trainctl::cli::DatasetCreateOptions options;
  options.name = "mnist";
  SECTION("given a path and tags, valid") {
    options.path = "data";
    options.tags = {"a=b", "c="};
    CHECK(validate(options).has_value());
  }
  SECTION("given both a path and a URL, a usage error") {
    options.path = "data";
    options.urls = {"http://x/a"};
    CHECK(validate(options).error().code == ErrorCode::usage);
  }
  SECTION("given neither, a usage error") {
    CHECK(validate(options).error().code == ErrorCode::usage);
  }
  SECTION("given a tag without a key, a usage error") {
    options.path = "data";
    options.tags = {"=x"};
    CHECK(validate(options).error().code == ErrorCode::usage);
  }
}

TEST_CASE("dataset delete takes NAME or NAME:VERSION", "[cli][dataset]") {
  trainctl::cli::DatasetDeleteOptions options;
  options.ref = "mnist@latest";
  CHECK(validate(options).error().code == ErrorCode::usage);
  options.ref = "mnist:3";
  CHECK(validate(options).has_value());
}
