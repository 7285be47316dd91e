#pragma once
// Moves what runs log from their metrics files into the store (docs/metrics.md). Every task
// appends records to logs/<task>.metrics.jsonl in its run directory; whatever engine ran the
// task puts that file there (the local engine's tasks write it in place; a Slurm node's agent
// copies the run's logs back over HTTP). A thread reads the files of every active run about
// every `interval` and records what they gained; the run manager asks for the rest of an
// attempt's files before the attempt is archived or the run is recorded finished, so a run is
// seen finished with its metrics (unless the database was busy then: the thread records the
// rest as soon as it can, though the run is no longer active). What is recorded of each file is in the store with
// the points, so a restart resumes where the last batch ended: no point is recorded twice or
// lost.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "trainctl/service/store.hpp"

namespace trainctl::service {

struct MetricsIngesterOptions {
  std::filesystem::path runs_dir;  // <home>/runs
  std::chrono::milliseconds interval{200};
  size_t max_batch_bytes = 1u << 20;  // read and recorded in one transaction
};

class MetricsIngester {
 public:
  MetricsIngester(Store& store, MetricsIngesterOptions options);
  ~MetricsIngester();  // stops the thread
  MetricsIngester(const MetricsIngester&) = delete;
  MetricsIngester& operator=(const MetricsIngester&) = delete;

  void start();
  void stop();  // idempotent

  // Records the rest of every metrics file of attempt `attempt` of the run, every line to the
  // end (the attempt's tasks have ended). Call it while the files are still in the run's
  // logs/, before the attempt is archived or the run recorded finished. A file the store cannot
  // take now (a busy database) is logged and left to the thread, which tries again until every
  // line is recorded, though the run is no longer active.
  void finish_attempt(const std::string& run_id, int attempt);

  // A counter that moves each time points are recorded; wait_for_change returns once it
  // differs from `seen`, on stop(), or after `timeout`.
  uint64_t generation() const;
  void wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const;

 private:
  using FileKey = std::tuple<std::string, int, std::string>;  // run, attempt, task

  void loop();
  // Reads the run's attempts up to `current`: the ones before from their archive, `current`
  // from logs/ unless finish_attempt closed it.
  void ingest_run(const std::string& run_id, int current);
  // False when the store could not take everything now (see ingest_file).
  bool ingest_attempt(const std::string& run_id, int attempt, const std::filesystem::path& logs_dir,
                      bool at_end);
  // Records what the file gained since its recorded offset, in batches; what the store cannot
  // take now is left for the next call, and the result is false.
  bool ingest_file(const FileKey& key, const std::filesystem::path& file, bool at_end);
  // finish_attempt's leftovers: the attempts of ended runs whose files the store could not take.
  void retry_unfinished();
  // The recorded offset and line count of the file, from the cache or the store.
  std::pair<int64_t, int64_t> recorded(const FileKey& key);
  void notify();

  Store& m_store;
  MetricsIngesterOptions m_options;
  std::mutex m_ingest_mutex;  // one reader of the files at a time; guards the two below
  std::map<FileKey, std::pair<int64_t, int64_t>> m_recorded;  // offset, lines
  std::set<std::pair<std::string, int>> m_closed;             // finished attempts
  std::set<std::pair<std::string, int>> m_unfinished;         // finished, not all recorded
  mutable std::mutex m_mutex;  // guards the fields below
  mutable std::condition_variable m_changed;
  uint64_t m_generation = 0;
  bool m_stopping = false;
  std::thread m_thread;
};

}  // namespace trainctl::service
