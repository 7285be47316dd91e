// Run logs as chunked NDJSON events (docs/rest-api.md, Run logs): whole lines from a byte offset,
// status changes, heartbeats, and an end event once the run is finished and every byte was sent.
#include <charconv>
#include <memory>

#include <fmt/ranges.h>

#include "handlers.hpp"
#include "log_chunks.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/spec/job_spec.hpp"

namespace trainctl::service::handlers {

namespace {

// A follower is woken by every change of its run and every write to its logs; this bounds its
// sleep for what sends no notification (the heartbeat's time, a deleted run).
constexpr auto k_max_wait = std::chrono::milliseconds(1000);
using SteadyClock = std::chrono::steady_clock;

// The task name of a run's Preparing log (logs/preparing.log): the build of its pip environment.
constexpr std::string_view k_preparing_task = "preparing";

// The logs a run has in `logs_dir`, by task name: first "preparing" when the run asks for pip
// packages (so a follower that starts while the run is queued gets it too) or the file exists;
// then its tasks in plan order, the MPI launcher ("mpirun") included: a function of its
// validated payload (spec::task_names; no plan is built, so no port is taken). A payload that
// no longer validates falls back to the tasks the engine reported.
std::vector<std::string> log_names(const RunRecord& run, const std::filesystem::path& logs_dir) {
  const auto spec = spec::job_spec_from_payload(run.payload);
  std::vector<std::string> names;
  std::error_code ec;
  if ((spec && !spec->estimator.pip_packages.empty()) ||
      std::filesystem::exists(logs_dir / k_preparing_log, ec)) {
    names.emplace_back(k_preparing_task);
  }
  if (spec) {
    std::ranges::copy(spec::task_names(*spec), std::back_inserter(names));
  } else {
    for (const auto& task : run.tasks) names.push_back(task.value("name", ""));
  }
  return names;
}

// not_found naming the run's tasks: "run X has no task 'worker-9'; its tasks are chief-0, ...".
Error no_such_task(const RunRecord& run, const std::string& task,
                   const std::vector<std::string>& tasks) {
  return Error{ErrorCode::not_found, fmt::format("run {} has no task '{}'; its tasks are {}",
                                                 run.id, task, fmt::join(tasks, ", "))};
}

// Where attempt `attempt` of a run keeps its logs while the run is on attempt `current`: an
// attempt that was retried is archived under attempts/<n>/ (archive_attempt).
std::filesystem::path attempt_logs_dir(const std::filesystem::path& run_dir, int attempt,
                                       int current) {
  return (attempt < current ? attempt_dir(run_dir, attempt) : run_dir) / "logs";
}

// How a retried attempt ended, from the run's record of it (run.attempts): {"attempt",
// "status", "exit_code", "reason"}.
nlohmann::json attempt_outcome(const RunRecord& run, int attempt) {
  for (const auto& summary : run.attempts) {
    if (summary.value("attempt", 0) != attempt) continue;
    return {{"attempt", attempt},
            {"status", summary.value("status", "Failed")},
            {"exit_code", summary.value("exit_code", nlohmann::json())},
            {"reason", summary.value("reason", "")}};
  }
  return {{"attempt", attempt}, {"status", "Failed"}, {"exit_code", nullptr}, {"reason", ""}};
}

// A run's logs watched for writes while this is alive (RunManager::follow_logs).
class FollowedLogs {
 public:
  FollowedLogs(RunManager& runs, std::string run_id) : m_runs(runs), m_run_id(std::move(run_id)) {
    m_runs.follow_logs(m_run_id);
  }
  ~FollowedLogs() { m_runs.unfollow_logs(m_run_id); }
  FollowedLogs(const FollowedLogs&) = delete;
  FollowedLogs& operator=(const FollowedLogs&) = delete;

 private:
  RunManager& m_runs;
  std::string m_run_id;
};

// Streams one request's events; owns the cursors, which read the logs of one attempt of the
// run. Without follow, that attempt's log is sent up to what exists (all of it when the attempt
// is over) and an end event closes the stream. Following, an "attempt" event says which attempt
// the log events that come after it belong to: one at the start, then one each time the run is
// retried, once every byte of the attempt before was sent.
class LogStream {
 public:
  LogStream(const ServiceContext& context, RunRecord run, std::vector<LogCursor> cursors,
            int attempt, bool follow)
      : m_context(context),
        m_run(std::move(run)),
        m_run_dir(context.runs.run_dir(m_run.id)),
        m_cursors(std::move(cursors)),
        m_attempt(attempt),
        m_follow(follow) {}

  // Writes every event of the request to `sink`; returns false when the client went away.
  bool run(httplib::DataSink& sink) {
    // Following, a write to one of the run's logs wakes the wait below at once.
    std::optional<FollowedLogs> followed;
    if (m_follow) followed.emplace(m_context.runs, m_run.id);
    std::optional<api::RunStatus> sent_status;
    if (m_follow && !write_event(sink, {{"type", "attempt"}, {"attempt", m_attempt}})) return false;
    auto last_write = SteadyClock::now();
    while (true) {
      const uint64_t seen = m_context.runs.generation();
      auto run = m_context.store.get_run(m_run.workspace, m_run.id);
      if (!run) break;  // deleted meanwhile
      const bool finished = api::is_terminal(run->status);
      if (m_follow && sent_status != run->status) {
        const nlohmann::json status{{"type", "status"}, {"status", api::to_string(run->status)}};
        if (!write_event(sink, status)) return false;
        sent_status = run->status;
        last_write = SteadyClock::now();
      }
      bool wrote = false;
      if (m_follow && !follow_retries(sink, *run, wrote)) return false;
      const bool attempt_over = m_attempt < run->attempt;
      if (attempt_over) read_archive_of(*run);
      for (auto& cursor : m_cursors) {
        if (!send_available(sink, cursor, finished || attempt_over, wrote)) return false;
      }
      if (wrote) last_write = SteadyClock::now();
      if (!m_follow || finished) {
        const auto end = attempt_over ? archived_end_event(*run, m_attempt) : end_event(*run);
        if (!write_event(sink, end)) return false;
        break;
      }
      if (m_context.runs.stopping() || !sink.is_writable()) break;
      if (SteadyClock::now() - last_write >= m_context.config.heartbeat_interval) {
        if (!write_event(sink, {{"type", "heartbeat"}})) return false;
        last_write = SteadyClock::now();
      }
      m_context.runs.wait_for_change(seen, k_max_wait);
    }
    sink.done();
    return true;
  }

 private:
  static nlohmann::json end_event(const RunRecord& run) {
    return {{"type", "end"},
            {"status", api::to_string(run.status)},
            {"exit_code", run.exit_code ? nlohmann::json(*run.exit_code) : nullptr},
            {"failure_reason", run.failure_reason}};
  }

  // The end of a retried attempt's log: how that attempt ended.
  static nlohmann::json archived_end_event(const RunRecord& run, int attempt) {
    const auto outcome = attempt_outcome(run, attempt);
    return {{"type", "end"},
            {"attempt", attempt},
            {"status", outcome["status"]},
            {"exit_code", outcome["exit_code"]},
            {"failure_reason", outcome["reason"]}};
  }

  // Following: while the attempt being read was retried, sends the rest of its log, then an
  // "attempt" event naming the next attempt and how the one before ended, and reads that next
  // attempt's log from its start.
  bool follow_retries(httplib::DataSink& sink, const RunRecord& run, bool& wrote) {
    while (m_attempt < run.attempt) {
      read_archive_of(run);
      for (auto& cursor : m_cursors) {
        if (!send_available(sink, cursor, true, wrote)) return false;
      }
      ++m_attempt;
      const auto logs_dir = attempt_logs_dir(m_run_dir, m_attempt, run.attempt);
      for (auto& cursor : m_cursors) {
        cursor = LogCursor{cursor.task, logs_dir / (cursor.task + ".log"), 0, UniqueFd()};
      }
      const nlohmann::json event{{"type", "attempt"},
                                 {"attempt", m_attempt},
                                 {"previous", attempt_outcome(run, m_attempt - 1)}};
      if (!write_event(sink, event)) return false;
      wrote = true;
    }
    return true;
  }

  // The attempt being read is over and archived: a log not opened yet is read from the archive
  // (an open one follows its file there).
  void read_archive_of(const RunRecord& run) {
    const auto logs_dir = attempt_logs_dir(m_run_dir, m_attempt, run.attempt);
    for (auto& cursor : m_cursors) {
      if (cursor.fd.get() < 0) cursor.file = logs_dir / (cursor.task + ".log");
    }
  }

  const ServiceContext& m_context;
  RunRecord m_run;
  std::filesystem::path m_run_dir;
  std::vector<LogCursor> m_cursors;
  int m_attempt;  // the attempt whose logs the cursors read
  bool m_follow;
};

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The attempt `?attempt=N` asks for; the run's current attempt without N. invalid_argument
// when N is not a positive number; not_found for an attempt the run has not made.
Result<int> requested_attempt(const RunRecord& run, const httplib::Request& request) {
  const auto text = request.get_param_value("attempt");
  if (text.empty()) return run.attempt;
  int attempt = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), attempt);
  if (error != std::errc() || end != text.data() + text.size() || attempt < 1) {
    return fail(ErrorCode::invalid_argument, "attempt must be a number from 1");
  }
  if (attempt > run.attempt) {
    return fail(ErrorCode::not_found, "run {} has made {} attempt{}; there is no attempt {}",
                run.id, run.attempt, run.attempt == 1 ? "" : "s", attempt);
  }
  return attempt;
}

// The cursors a request asks for in `logs_dir`: one task (task=) or every task of the run,
// each from its offset. not_found for a task the run does not have.
Result<std::vector<LogCursor>> log_cursors(const RunRecord& run, const std::filesystem::path& logs_dir,
                                           const httplib::Request& request) {
  const std::vector<std::string> run_tasks = log_names(run, logs_dir);
  std::vector<std::string> tasks = run_tasks;
  if (const auto task = request.get_param_value("task"); !task.empty()) {
    if (!contains(run_tasks, task)) return fail(no_such_task(run, task, run_tasks));
    tasks = {task};
  }
  auto offsets = parse_offsets(request.get_param_value("offset"), tasks, "tasks", "task");
  if (!offsets) return fail(offsets.error());
  for (const auto& [task, offset] : *offsets) {
    if (!contains(run_tasks, task)) return fail(no_such_task(run, task, run_tasks));
    if (!contains(tasks, task)) {
      return fail(ErrorCode::invalid_argument, "offset names task '{}', which task= leaves out", task);
    }
  }
  std::vector<LogCursor> cursors;
  for (const auto& task : tasks) {
    const auto offset = offsets->find(task);
    cursors.push_back({task, logs_dir / (task + ".log"),
                       offset == offsets->end() ? 0 : offset->second, UniqueFd()});
  }
  return cursors;
}

void stream_logs(const ServiceContext& context, const httplib::Request& request,
                 httplib::Response& response) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return send_error(response, workspace.error());
  auto id = name_param(request, 2, "run");
  if (!id) return send_error(response, id.error());
  auto run = context.store.get_run(*workspace, *id);
  if (!run) return send_error(response, run.error());
  auto attempt = requested_attempt(*run, request);
  if (!attempt) return send_error(response, attempt.error());
  auto cursors = log_cursors(
      *run, attempt_logs_dir(context.runs.run_dir(run->id), *attempt, run->attempt), request);
  if (!cursors) return send_error(response, cursors.error());
  auto stream = std::make_shared<LogStream>(context, std::move(*run), std::move(*cursors),
                                            *attempt, request.get_param_value("follow") == "true");
  response.set_chunked_content_provider(
      "application/x-ndjson",
      [stream](size_t, httplib::DataSink& sink) { return stream->run(sink); });
}

}  // namespace

void install_log_routes(httplib::Server& server, const ServiceContext& context) {
  server.Get(workspace_route("/runs/([^/]+)/logs"),
             [&context](const httplib::Request& request, httplib::Response& response) {
               stream_logs(context, request, response);
             });
}

}  // namespace trainctl::service::handlers
