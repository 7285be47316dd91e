// `trainctl logs RUN [-f] [--task T | --rank N]` and the follower that `submit --stream` shares.
#include "trainctl/cli/commands/logs.hpp"

#include <chrono>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "command_table.hpp"
#include "trainctl/cli/log_prefixer.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;

constexpr auto k_reconnect_delay = std::chrono::milliseconds(250);
constexpr int k_max_reconnects_without_progress = 40;  // about 10 s of a service that is gone

// Where each task's log was read up to, to resume from after a dropped connection.
class LogCursor {
 public:
  explicit LogCursor(std::string task) : m_task(std::move(task)) {}

  void advance(const json& event) {
    m_offsets[event.value("task", m_task)] = event.value("next_offset", int64_t{0});
  }

  // The `offset` query: one number for a single task, "task:offset,..." otherwise.
  std::string offset_query() const {
    if (m_offsets.empty()) return {};
    if (!m_task.empty()) return std::to_string(m_offsets.begin()->second);
    std::string query;
    for (const auto& [task, offset] : m_offsets) {
      query += fmt::format("{}{}:{}", query.empty() ? "" : ",", task, offset);
    }
    return query;
  }

 private:
  std::string m_task;
  std::map<std::string, int64_t> m_offsets;
};

Result<api::RunStatus> status_of(const json& end_event) {
  const auto name = end_event.value("status", "");
  if (auto status = api::parse_run_status(name)) return *status;
  return fail(ErrorCode::internal, "the service sent an unknown run status \"{}\"", name);
}

}  // namespace

Result<void> validate(const LogsOptions& options) {
  if (options.run_id.empty()) return fail(ErrorCode::usage, "a run id is required");
  if (options.rank && !options.task.empty()) {
    return fail(ErrorCode::usage, "--task and --rank both pick a task; give one of them");
  }
  if (options.rank && *options.rank < 0) {
    return fail(ErrorCode::usage, "--rank {}: ranks count from 0", *options.rank);
  }
  return {};
}

std::string selected_task(const LogsOptions& options) {
  return options.rank ? fmt::format("rank-{}", *options.rank) : options.task;
}

Result<api::RunStatus> print_logs(client::ApiClient& client, Printer& printer,
                                  const std::string& workspace, const LogsOptions& options) {
  const std::string task = selected_task(options);
  LogCursor cursor(task);
  LogPrefixer prefixer;
  std::optional<json> end_event;
  int failures = 0;
  while (true) {
    const client::LogQuery query{
        .task = task, .offset = cursor.offset_query(), .follow = options.follow};
    bool progressed = false;
    auto streamed = client.stream_logs(workspace, options.run_id, query, [&](const json& event) {
      const auto type = event.value("type", "");
      if (type == "log") {
        const auto data = event.value("data", "");
        printer.write(task.empty() ? prefixer.apply(event.value("task", ""), data) : data);
        cursor.advance(event);
        progressed = true;
      } else if (type == "end") {
        end_event = event;
      }
      return !InterruptScope::interrupted();
    });
    if (end_event) return status_of(*end_event);
    const bool dropped = streamed ? true : streamed.error().code == ErrorCode::unavailable;
    if (!options.follow || !dropped) {
      if (!streamed) return fail(streamed.error());
      return fail(ErrorCode::internal, "the log stream of {} ended without an end event",
                  options.run_id);
    }
    failures = progressed ? 0 : failures + 1;
    if (failures > k_max_reconnects_without_progress) {
      return fail(streamed ? Error{ErrorCode::unavailable, "the log stream keeps ending early"}
                           : streamed.error());
    }
    spdlog::debug("log stream of {} dropped; resuming at \"{}\"", options.run_id,
                  cursor.offset_query());
    std::this_thread::sleep_for(k_reconnect_delay);
    if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "interrupted");
  }
}

Result<int> run_logs(Session& session, const LogsOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  InterruptScope interrupt_scope;
  auto status = print_logs(**client, session.printer(), session.workspace(), options);
  if (!status) return fail(status.error());
  return options.follow ? api::exit_code_for_outcome(*status) : exit_code::k_success;
}

void add_logs_commands(CLI::App& app, Action& selected) {
  auto options = std::make_shared<LogsOptions>();
  auto* logs = app.add_subcommand("logs", "Print a run's logs");
  logs->add_option("RUN", options->run_id, "Run id")->required();
  logs->add_flag("-f,--follow", options->follow,
                 "Follow until the run ends; exit with its outcome");
  logs->add_option("--task", options->task,
                   "Only this task: main, chief-0, ps-N, worker-N, evaluator-0, rank-N or mpirun");
  logs->add_option("--rank", options->rank, "Only rank N of an MPI or PyTorch run (task rank-N)");
  logs->footer(R"(
Without --task or --rank, every task's log is printed merged in the order written, each line of
a distributed run prefixed with its task: "[worker-1] step 10 loss 0.31". An unknown task is an
error that lists the run's tasks (exit 7).

Following survives a dropped connection: it resumes where it stopped, without losing or
repeating bytes. Ctrl-C stops following; the run goes on.

Examples:
  trainctl logs run-k3x9q2m7ab
  trainctl logs run-k3x9q2m7ab -f --task worker-0
  trainctl logs run-k3x9q2m7ab --rank 3
  trainctl logs run-k3x9q2m7ab --task mpirun)");
  on_parsed(logs, selected, options, run_logs);
}

}  // namespace trainctl::cli
