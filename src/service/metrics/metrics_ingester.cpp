#include "trainctl/service/metrics/metrics_ingester.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <string_view>

#include "trainctl/api/metrics.hpp"
#include "trainctl/service/metrics/metric_lines.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/util/time.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

// The task whose metrics file `file` is; empty when it is no metrics file.
std::string task_of(const fs::path& file) {
  const std::string name = file.filename().string();
  if (!name.ends_with(api::k_metrics_file_suffix) || name.size() == api::k_metrics_file_suffix.size()) {
    return {};
  }
  return name.substr(0, name.size() - api::k_metrics_file_suffix.size());
}

// Up to `most` bytes of the file from `offset`; empty when there are none or it cannot be read.
std::string read_from(const fs::path& file, int64_t offset, size_t most) {
  util::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return {};
  std::string bytes(most, '\0');
  size_t got = 0;
  while (got < most) {
    const ssize_t n = ::pread(fd.get(), bytes.data() + got, most - got,
                              static_cast<off_t>(offset + static_cast<int64_t>(got)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

int64_t size_of(const fs::path& file) {
  struct stat info {};
  if (::lstat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return 0;
  return static_cast<int64_t>(info.st_size);
}

}  // namespace

MetricsIngester::MetricsIngester(Store& store, MetricsIngesterOptions options)
    : m_store(store), m_options(std::move(options)) {}

MetricsIngester::~MetricsIngester() { stop(); }

void MetricsIngester::start() {
  m_thread = std::thread([this] { loop(); });
}

void MetricsIngester::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_changed.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

uint64_t MetricsIngester::generation() const {
  std::lock_guard lock(m_mutex);
  return m_generation;
}

void MetricsIngester::wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_mutex);
  m_changed.wait_for(lock, timeout, [&] { return m_generation != seen || m_stopping; });
}

void MetricsIngester::notify() {
  {
    std::lock_guard lock(m_mutex);
    ++m_generation;
  }
  m_changed.notify_all();
}

void MetricsIngester::loop() {
  while (true) {
    {
      std::unique_lock lock(m_mutex);
      m_changed.wait_for(lock, m_options.interval, [&] { return m_stopping; });
      if (m_stopping) return;
    }
    auto runs = m_store.list_active_run_summaries();  // thousands may be queued: no JSON parsed
    if (!runs) {
      spdlog::warn("metrics: cannot list the active runs: {}", runs.error().message);
      continue;
    }
    std::set<std::string> active;
    for (const auto& run : *runs) {
      active.insert(run.id);
      if (run.status == api::RunStatus::Queued || run.status == api::RunStatus::Preparing) continue;
      ingest_run(run.id, run.attempt);
    }
    retry_unfinished();
    std::lock_guard lock(m_ingest_mutex);  // forget the runs that ended
    for (const auto& [run_id, attempt] : m_unfinished) active.insert(run_id);
    std::erase_if(m_recorded, [&](const auto& entry) { return !active.contains(std::get<0>(entry.first)); });
    std::erase_if(m_closed, [&](const auto& entry) { return !active.contains(entry.first); });
  }
}

void MetricsIngester::retry_unfinished() {
  std::lock_guard lock(m_ingest_mutex);
  for (auto it = m_unfinished.begin(); it != m_unfinished.end();) {
    const auto& [run_id, attempt] = *it;
    const fs::path run_dir = m_options.runs_dir / run_id;
    // Archived by now if the run went on to another attempt.
    const fs::path archived = attempt_dir(run_dir, attempt) / "logs";
    std::error_code error;
    const fs::path logs = fs::is_directory(archived, error) ? archived : run_dir / "logs";
    it = ingest_attempt(run_id, attempt, logs, /*at_end=*/true) ? m_unfinished.erase(it) : std::next(it);
  }
}

void MetricsIngester::ingest_run(const std::string& run_id, int current) {
  const fs::path run_dir = m_options.runs_dir / run_id;
  std::lock_guard lock(m_ingest_mutex);
  for (int attempt = 1; attempt <= current; ++attempt) {
    const bool archived = attempt < current || m_closed.contains({run_id, attempt});
    ingest_attempt(run_id, attempt,
                   archived ? attempt_dir(run_dir, attempt) / "logs" : run_dir / "logs",
                   /*at_end=*/archived);
  }
}

void MetricsIngester::finish_attempt(const std::string& run_id, int attempt) {
  std::lock_guard lock(m_ingest_mutex);
  if (!ingest_attempt(run_id, attempt, m_options.runs_dir / run_id / "logs", /*at_end=*/true)) {
    m_unfinished.insert({run_id, attempt});
  }
  m_closed.insert({run_id, attempt});
}

bool MetricsIngester::ingest_attempt(const std::string& run_id, int attempt,
                                     const fs::path& logs_dir, bool at_end) {
  std::error_code error;
  bool complete = true;
  for (const auto& entry : fs::directory_iterator(logs_dir, error)) {
    const std::string task = task_of(entry.path());
    if (task.empty()) continue;
    complete = ingest_file({run_id, attempt, task}, entry.path(), at_end) && complete;
  }
  return complete;
}

std::pair<int64_t, int64_t> MetricsIngester::recorded(const FileKey& key) {
  if (const auto it = m_recorded.find(key); it != m_recorded.end()) return it->second;
  std::pair<int64_t, int64_t> found{0, 0};
  if (auto files = m_store.metric_files(std::get<0>(key)); files) {
    for (const auto& file : *files) {
      if (file.attempt == std::get<1>(key) && file.task == std::get<2>(key)) {
        found = {file.offset, file.lines};
      }
    }
  }
  return m_recorded[key] = found;
}

bool MetricsIngester::ingest_file(const FileKey& key, const fs::path& file, bool at_end) {
  const auto& [run_id, attempt, task] = key;
  const int64_t size = size_of(file);
  bool recorded_any = false;
  bool complete = true;
  while (true) {
    auto [offset, lines] = recorded(key);
    if (offset >= size) break;
    const std::string bytes = read_from(file, offset, m_options.max_batch_bytes);
    if (bytes.empty()) break;
    const bool whole_rest = offset + static_cast<int64_t>(bytes.size()) >= size;
    MetricBatch batch;
    batch.run_id = run_id;
    batch.attempt = attempt;
    batch.task = task;
    batch.from_offset = offset;
    batch.to_offset = offset;
    const auto read = read_metric_lines(bytes, at_end && whole_rest, util::now_unix_ms(),
                                        lines + 1, file.filename().string(), batch);
    if (read.consumed == 0) break;  // a line still being written
    if (auto done = m_store.record_metrics(batch); !done) {
      if (done.error().code == ErrorCode::conflict || done.error().code == ErrorCode::not_found) {
        m_recorded.erase(key);  // recorded by an earlier process, or the run is gone
      } else {
        spdlog::warn("run {}: cannot record metrics now ({}); trying again", run_id,
                     done.error().message);
        complete = false;
      }
      break;
    }
    m_recorded[key] = {batch.to_offset, lines + batch.lines};
    recorded_any = true;
  }
  if (recorded_any) notify();
  return complete;
}

}  // namespace trainctl::service
