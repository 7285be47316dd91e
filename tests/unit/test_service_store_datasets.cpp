// Dataset versions in the store: numbering, create_new_version, latest, listing, and deletes
// refused while a run that has not finished uses the version.
#include <set>
#include <thread>

#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::api::RunStatus;
using trainctl::service::DatasetVersionRecord;
using trainctl::service::ResolvedInput;
using trainctl::service::RunRecord;
using trainctl::service::Store;
using trainctl::service::testing::create_run;
using trainctl::service::testing::draft_run;
using trainctl::service::testing::status_change;
using trainctl::service::testing::StoreFixture;

// A version of `name` whose one file has `content_hash` as its hash (the store only compares).
DatasetVersionRecord draft_version(const std::string& name, const std::string& content_hash,
                                   const std::string& workspace = "default") {
  DatasetVersionRecord draft;
  draft.workspace = workspace;
  draft.name = name;
  draft.description = "digits " + content_hash;
  draft.tags = {{"team", "vision"}};
  draft.files = nlohmann::json::array(
      {{{"path", "train.csv"}, {"sha256", std::string(64, 'a')}, {"size", 12}, {"mode", 0644}}});
  draft.content_hash = content_hash;
  draft.file_count = 1;
  draft.total_size = 12;
  return draft;
}

// Creates a version that must succeed; returns its number.
int64_t create_version(Store& store, const DatasetVersionRecord& draft, bool create_new = false) {
  auto created = store.create_dataset_version(draft, create_new);
  REQUIRE(created.has_value());
  return created->first.version;
}

std::vector<int64_t> live_versions(Store& store, const std::string& name) {
  auto versions = store.list_dataset_versions("default", name);
  REQUIRE(versions.has_value());
  std::vector<int64_t> numbers;
  for (const auto& version : *versions) numbers.push_back(version.version);
  return numbers;
}

// A queued run of the default workspace that uses mnist:`version` as input "data".
RunRecord run_using(Store& store, int64_t version) {
  auto draft = draft_run("default");
  draft.inputs.push_back(
      ResolvedInput{.name = "data", .dataset = "mnist", .version = version, .mode = "mount"});
  return create_run(store, draft);
}

}  // namespace

TEST_CASE("dataset versions count from 1 and identical content makes no new version unless asked",
          "[store][datasets]") {
  StoreFixture fixture;
  auto& store = *fixture.store;

  GIVEN("a dataset with one version") {
    auto first = store.create_dataset_version(draft_version("mnist", "hash-1"), false);
    REQUIRE(first.has_value());
    CHECK(first->second);
    CHECK(first->first.version == 1);
    CHECK(first->first.created_at_ms > 0);

    WHEN("the same content is registered again") {
      auto again = store.create_dataset_version(draft_version("mnist", "hash-1"), false);
      THEN("the existing version is returned, not a new one") {
        REQUIRE(again.has_value());
        CHECK_FALSE(again->second);
        CHECK(again->first.version == 1);
        CHECK(again->first.files == first->first.files);
        CHECK(live_versions(store, "mnist") == std::vector<int64_t>{1});
      }
    }
    WHEN("the same content is registered with create_new_version") {
      THEN("version 2 is made") {
        CHECK(create_version(store, draft_version("mnist", "hash-1"), true) == 2);
      }
    }
    WHEN("different content is registered") {
      THEN("version 2 is made, and the same content as version 1 makes version 3") {
        CHECK(create_version(store, draft_version("mnist", "hash-2")) == 2);
        CHECK(create_version(store, draft_version("mnist", "hash-1")) == 3);
      }
    }
    WHEN("another dataset is registered with the same content") {
      THEN("it has its own version 1") {
        CHECK(create_version(store, draft_version("cifar", "hash-1")) == 1);
      }
    }
  }
}

TEST_CASE("a version keeps what it was created with", "[store][datasets]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  auto draft = draft_version("mnist", "hash-1");
  draft.source = "urls";
  draft.files[0]["url"] = "http://example.org/train.csv";
  create_version(store, draft);

  auto stored = store.get_dataset_version("default", "mnist", 1);
  REQUIRE(stored.has_value());
  CHECK(stored->workspace == "default");
  CHECK(stored->name == "mnist");
  CHECK(stored->description == draft.description);
  CHECK(stored->tags == draft.tags);
  CHECK(stored->files == draft.files);
  CHECK(stored->source == "urls");
  CHECK(stored->content_hash == "hash-1");
  CHECK(stored->file_count == 1);
  CHECK(stored->total_size == 12);
}

TEST_CASE("latest is the newest version not deleted, and deleted numbers are never reused",
          "[store][datasets]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  for (const auto* hash : {"hash-1", "hash-2", "hash-3"})
    create_version(store, draft_version("mnist", hash));

  WHEN("the newest version is deleted") {
    REQUIRE(store.delete_dataset("default", "mnist", 3).has_value());
    THEN("latest is version 2, version 3 is gone, and the next version is 4") {
      auto latest = store.get_dataset_version("default", "mnist", 0);
      REQUIRE(latest.has_value());
      CHECK(latest->version == 2);
      CHECK(store.get_dataset_version("default", "mnist", 3).error().code == ErrorCode::not_found);
      CHECK(live_versions(store, "mnist") == std::vector<int64_t>{1, 2});
      CHECK(create_version(store, draft_version("mnist", "hash-4")) == 4);
    }
    THEN("content equal to the deleted version still makes a new version") {
      CHECK(create_version(store, draft_version("mnist", "hash-3")) == 4);
    }
  }
  WHEN("every version is deleted") {
    REQUIRE(store.delete_dataset("default", "mnist", 0).has_value());
    THEN("the dataset is not found, and a new version counts on from 4") {
      CHECK(store.list_dataset_versions("default", "mnist").error().code == ErrorCode::not_found);
      CHECK(store.get_dataset_version("default", "mnist", 0).error().code == ErrorCode::not_found);
      CHECK(store.delete_dataset("default", "mnist", 0).error().code == ErrorCode::not_found);
      CHECK(create_version(store, draft_version("mnist", "hash-1")) == 4);
    }
  }
  WHEN("a version that does not exist is deleted") {
    THEN("it is not found") {
      CHECK(store.delete_dataset("default", "mnist", 9).error().code == ErrorCode::not_found);
      CHECK(store.delete_dataset("default", "cifar", 1).error().code == ErrorCode::not_found);
    }
  }
}

TEST_CASE("datasets are listed by name with their latest version", "[store][datasets]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  REQUIRE(store.create_workspace("other", "").has_value());
  create_version(store, draft_version("mnist", "hash-1"));
  create_version(store, draft_version("mnist", "hash-2"));
  create_version(store, draft_version("cifar", "hash-1"));
  create_version(store, draft_version("imagenet", "hash-1", "other"));

  auto listed = store.list_datasets("default");
  REQUIRE(listed.has_value());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].name == "cifar");
  CHECK((*listed)[1].name == "mnist");
  CHECK((*listed)[1].latest_version == 2);
  CHECK((*listed)[1].version_count == 2);
  CHECK((*listed)[1].description == "digits hash-2");
  CHECK((*listed)[1].updated_at_ms > 0);

  SECTION("versions are listed oldest first, without their files") {
    auto versions = store.list_dataset_versions("default", "mnist");
    REQUIRE(versions.has_value());
    REQUIRE(versions->size() == 2);
    CHECK((*versions)[0].version == 1);
    CHECK((*versions)[1].content_hash == "hash-2");
    CHECK((*versions)[1].files.empty());
  }
  SECTION("a workspace without datasets lists none; one that does not exist is not found") {
    REQUIRE(store.create_workspace("empty", "").has_value());
    CHECK(store.list_datasets("empty").value().empty());
    CHECK(store.list_datasets("nowhere").error().code == ErrorCode::not_found);
  }
  SECTION("a version cannot be made in a workspace that does not exist") {
    auto created = store.create_dataset_version(draft_version("mnist", "hash-1", "nowhere"), false);
    CHECK(created.error().code == ErrorCode::not_found);
  }
}

TEST_CASE("a run records the dataset versions it uses", "[store][datasets][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  create_version(store, draft_version("mnist", "hash-1"));

  const auto run = run_using(store, 1);
  auto stored = store.get_run("default", run.id);
  REQUIRE(stored.has_value());
  REQUIRE(stored->inputs.size() == 1);
  CHECK(stored->inputs[0].name == "data");
  CHECK(stored->inputs[0].dataset == "mnist");
  CHECK(stored->inputs[0].version == 1);
  CHECK(stored->inputs[0].mode == "mount");

  SECTION("a run without inputs has none") {
    const auto plain = create_run(store, draft_run("default"));
    CHECK(store.get_run("default", plain.id).value().inputs.empty());
  }
  SECTION("a run cannot be made with a version deleted since its inputs were resolved") {
    create_version(store, draft_version("mnist", "hash-2"));
    REQUIRE(store.delete_dataset("default", "mnist", 2).has_value());
    auto draft = draft_run("default");
    draft.inputs.push_back(
        ResolvedInput{.name = "data", .dataset = "mnist", .version = 2, .mode = "download"});
    auto created = store.create_run(draft);
    REQUIRE_FALSE(created.has_value());
    CHECK(created.error().code == ErrorCode::invalid_spec);
    REQUIRE(created.error().details.size() == 1);
    CHECK(created.error().details[0].path == "inputs.data.version");
  }
}

TEST_CASE("a version used by a run that has not finished cannot be deleted", "[store][datasets]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  create_version(store, draft_version("mnist", "hash-1"));
  create_version(store, draft_version("mnist", "hash-2"));

  GIVEN("a running run that uses version 2") {
    const auto run = run_using(store, 2);
    REQUIRE(store.update_run(run.id, status_change(RunStatus::Running)).has_value());

    THEN(
        "deleting version 2, or every version, is refused naming the run, and nothing is deleted") {
      for (int64_t version : {int64_t{2}, int64_t{0}}) {
        auto deleted = store.delete_dataset("default", "mnist", version);
        REQUIRE_FALSE(deleted.has_value());
        CHECK(deleted.error().code == ErrorCode::conflict);
        CHECK(deleted.error().message ==
              fmt::format("dataset mnist:2 is used by run {} (Running); cancel it or wait for it "
                          "to finish",
                          run.id));
      }
      CHECK(live_versions(store, "mnist") == std::vector<int64_t>{1, 2});
    }
    THEN("version 1, which no run uses, can be deleted") {
      CHECK(store.delete_dataset("default", "mnist", 1).has_value());
    }
    WHEN("the run finishes") {
      REQUIRE(store.update_run(run.id, status_change(RunStatus::Completed)).has_value());
      THEN("the version can be deleted, and the run still records it") {
        CHECK(store.delete_dataset("default", "mnist", 2).has_value());
        CHECK(store.get_run("default", run.id).value().inputs.at(0).version == 2);
      }
    }
  }
  GIVEN("two queued runs that use version 2") {
    const auto first = run_using(store, 2);
    const auto second = run_using(store, 2);
    THEN("the refusal names both") {
      auto deleted = store.delete_dataset("default", "mnist", 2);
      REQUIRE_FALSE(deleted.has_value());
      CHECK(deleted.error().message ==
            fmt::format("dataset mnist:2 is used by runs {} (Queued), {} (Queued); cancel them or "
                        "wait for them to finish",
                        first.id, second.id));
    }
  }
}

TEST_CASE("concurrent creates of one dataset get distinct versions", "[store][datasets]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  constexpr int k_threads = 8;
  std::vector<int64_t> versions(k_threads, 0);
  std::vector<std::thread> creators;
  for (int t = 0; t < k_threads; ++t) {
    creators.emplace_back([&, t] {
      auto created =
          store.create_dataset_version(draft_version("mnist", fmt::format("hash-{}", t)), false);
      if (created) versions[static_cast<size_t>(t)] = created->first.version;
    });
  }
  for (auto& creator : creators) creator.join();
  const std::set<int64_t> distinct(versions.begin(), versions.end());
  CHECK(distinct == std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8});
}
