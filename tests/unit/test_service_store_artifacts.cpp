// Blob and snapshot rows: which blobs are missing, idempotent inserts, snapshots by manifest id.
#include "test_service_store_support.hpp"
#include "trainctl/util/sha256.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::service::SnapshotRecord;
using trainctl::service::testing::StoreFixture;
using trainctl::util::sha256_hex;

}  // namespace

TEST_CASE("the store tells which blobs it is missing", "[store][blobs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  const auto a = sha256_hex("a");
  const auto b = sha256_hex("b");
  const auto c = sha256_hex("c");
  REQUIRE(store.insert_blob(b, 1).has_value());

  THEN("missing hashes come back once each, in the order asked") {
    auto missing = store.missing_blobs({c, b, a, c});
    REQUIRE(missing.has_value());
    CHECK(*missing == std::vector<std::string>{c, a});
    CHECK(store.missing_blobs({})->empty());
  }
  THEN("inserting a blob again is fine, and it is listed once") {
    REQUIRE(store.insert_blob(b, 1).has_value());
    REQUIRE(store.insert_blob(a, 1).has_value());
    CHECK(store.has_blob(a).value());
    CHECK_FALSE(store.has_blob(c).value());
    CHECK(*store.list_blob_hashes() == (a < b ? std::vector{a, b} : std::vector{b, a}));
  }
}

TEST_CASE("snapshots are stored once per manifest", "[store][snapshots]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  SnapshotRecord snapshot;
  snapshot.id = sha256_hex("manifest");
  snapshot.files = nlohmann::json::array(
      {{{"path", "train.py"}, {"sha256", sha256_hex("print(1)")}, {"size", 8}, {"mode", 420}}});
  snapshot.file_count = 1;
  snapshot.total_size = 8;

  auto first = store.put_snapshot(snapshot);
  REQUIRE(first.has_value());
  CHECK(first->second);

  WHEN("the same manifest is put again") {
    auto again = store.put_snapshot(snapshot);
    THEN("the stored one is returned, not new") {
      REQUIRE(again.has_value());
      CHECK_FALSE(again->second);
      CHECK(again->first.created_at_ms == first->first.created_at_ms);
    }
  }
  THEN("it reads back with its manifest") {
    auto read = store.get_snapshot(snapshot.id);
    REQUIRE(read.has_value());
    CHECK(read->files == snapshot.files);
    CHECK(read->file_count == 1);
    CHECK(read->total_size == 8);
    CHECK(store.get_snapshot(sha256_hex("other")).error().code == ErrorCode::not_found);
  }
}
