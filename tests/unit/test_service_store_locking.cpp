// Another process holding the database's write lock (RELIABILITY 31): writes wait for the busy
// timeout, then fail cleanly with unavailable; reads go on meanwhile (WAL).
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::service::StoreOptions;
using trainctl::service::testing::StoreFixture;
using SteadyClock = std::chrono::steady_clock;

// A second connection to the database, as another process would open it.
class OtherWriter {
 public:
  explicit OtherWriter(const std::filesystem::path& db_path) {
    REQUIRE(sqlite3_open(db_path.c_str(), &m_db) == SQLITE_OK);
  }
  ~OtherWriter() { sqlite3_close(m_db); }
  OtherWriter(const OtherWriter&) = delete;
  OtherWriter& operator=(const OtherWriter&) = delete;

  // SQLite's result code (SQLITE_OK on success); safe to call from any one thread.
  int exec(const char* sql) { return sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr); }

 private:
  sqlite3* m_db = nullptr;
};

}  // namespace

TEST_CASE("a write waits for another writer's lock, then fails with unavailable",
          "[store][locking]") {
  StoreFixture fixture(StoreOptions{.busy_timeout_ms = 300});
  auto& store = *fixture.store;
  OtherWriter other(fixture.db_path);

  GIVEN("another connection holds BEGIN IMMEDIATE") {
    REQUIRE(other.exec("BEGIN IMMEDIATE") == SQLITE_OK);

    WHEN("the store writes") {
      const auto started = SteadyClock::now();
      auto created = store.create_workspace("ws", "");
      const auto waited = SteadyClock::now() - started;

      THEN("it waited for the busy timeout and failed with a retryable error") {
        REQUIRE_FALSE(created.has_value());
        CHECK(created.error().code == ErrorCode::unavailable);
        CHECK(created.error().message == "the database is busy; retry");
        CHECK(waited >= std::chrono::milliseconds(250));
        CHECK(store.get_workspace("ws").error().code == ErrorCode::not_found);
      }
      THEN("reads still work") {
        CHECK(store.get_workspace("default").has_value());
      }
      AND_WHEN("the lock is released") {
        REQUIRE(other.exec("COMMIT") == SQLITE_OK);
        THEN("the same write succeeds") {
          CHECK(store.create_workspace("ws", "").has_value());
        }
      }
    }
  }
}

TEST_CASE("a write waits while another writer holds the lock briefly", "[store][locking]") {
  StoreFixture fixture(StoreOptions{.busy_timeout_ms = 10000});
  OtherWriter other(fixture.db_path);

  GIVEN("another connection holds BEGIN IMMEDIATE for 200 ms") {
    REQUIRE(other.exec("BEGIN IMMEDIATE") == SQLITE_OK);
    int released = -1;
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      released = other.exec("COMMIT");
    });
    WHEN("the store submits a run meanwhile") {
      auto created = fixture.store->create_run(trainctl::service::testing::draft_run("default"));
      releaser.join();
      THEN("the submission waited and went through") {
        CHECK(released == SQLITE_OK);
        CHECK(created.has_value());
      }
    }
  }
}
