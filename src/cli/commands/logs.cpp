// `trainctl logs RUN [-f] [--task T | --rank N]` and the follower that `submit --stream` shares.
#include "trainctl/cli/commands/logs.hpp"

#include <chrono>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "command_table.hpp"
#include "trainctl/cli/debug_log.hpp"
#include "trainctl/cli/log_prefixer.hpp"
#include "trainctl/cli/reconnect.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;


// Which attempt of a run is read and where each task's log was read up to, to resume from
// after a dropped connection.
class LogCursor {
 public:
  explicit LogCursor(std::string task) : m_task(std::move(task)) {}

  void advance(const json& event) {
    m_offsets[event.value("task", m_task)] = event.value("next_offset", int64_t{0});
  }

  // An "attempt" event: the log events after it are of that attempt, each from its start.
  void start_attempt(const json& event) {
    const int attempt = event.value("attempt", 0);
    if (attempt != m_attempt) m_offsets.clear();
    m_attempt = attempt;
  }

  int attempt() const { return m_attempt; }  // 0: none announced yet

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
  int m_attempt = 0;
  std::map<std::string, int64_t> m_offsets;
};

// "attempt 1 Failed (task 'main' was killed by signal 9 (SIGKILL)); attempt 2 starts": said
// when the service moves a followed log on to the run's next attempt.
std::string retry_notice(const json& attempt_event) {
  const auto previous = attempt_event.value("previous", json::object());
  const auto reason = previous.value("reason", "");
  return fmt::format("attempt {} {}{}; attempt {} starts", previous.value("attempt", 0),
                     previous.value("status", "Failed"),
                     reason.empty() ? "" : fmt::format(" ({})", reason),
                     attempt_event.value("attempt", 0));
}

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
  if (options.attempt && *options.attempt < 1) {
    return fail(ErrorCode::usage, "--attempt {}: attempts count from 1", *options.attempt);
  }
  return {};
}

std::string selected_task(const LogsOptions& options) {
  return options.rank ? fmt::format("rank-{}", *options.rank) : options.task;
}

Result<std::optional<json>> print_log_events(const LogSource& source, Printer& printer,
                                             const std::string& task, bool follow,
                                             std::string_view what, const SharedLogOutput* shared) {
  LogCursor cursor(task);
  LogPrefixer prefixer;
  std::optional<json> end_event;
  const auto locked = [&] {
    return shared && shared->mutex ? std::unique_lock(*shared->mutex) : std::unique_lock<std::mutex>();
  };
  const auto notice = [&](const std::string& text) {
    const auto lock = locked();
    printer.notice(shared ? fmt::format("[{}] {}", shared->run_label, text) : text);
  };
  // The log bytes of `event`'s task, prefixed as the merged view and a shared output say.
  const auto output = [&](const json& event) {
    const auto data = event.value("data", "");
    if (!task.empty() && !shared) return data;
    const std::string event_task = event.value("task", "");
    if (!shared) return prefixer.apply(event_task, data);
    const std::string label = LogPrefixer::prefixes(event_task)
                                  ? fmt::format("{}/{}", shared->run_label, event_task)
                                  : shared->run_label;
    return prefixer.apply(label, data);
  };
  // A stream that ended early or a service that is away (restarting): resumed at the cursor.
  Reconnect reconnect(Reconnect::k_default_patience, {}, [&](const Error& error) {
    if (!error.message.empty()) notice(fmt::format("{}; reconnecting", error.message));
  });
  while (true) {
    const client::LogQuery query{.task = task,
                                 .offset = cursor.offset_query(),
                                 .follow = follow,
                                 .attempt = cursor.attempt()};
    bool progressed = false;
    auto streamed = source(query, [&](const json& event) {
      const auto type = event.value("type", "");
      if (type == "log") {
        const std::string bytes = output(event);
        {
          const auto lock = locked();
          printer.write(bytes);
        }
        cursor.advance(event);
        progressed = true;
      } else if (type == "attempt") {
        if (event.contains("previous")) notice(retry_notice(event));
        cursor.start_attempt(event);
      } else if (type == "end") {
        end_event = event;
      }
      return !InterruptScope::interrupted();
    });
    if (end_event) return end_event;
    if (!streamed && !Reconnect::is_transient(streamed.error())) return fail(streamed.error());
    if (!follow) {
      if (!streamed) return fail(streamed.error());
      return std::optional<json>();
    }
    if (progressed) reconnect.reset();
    // An early end is waited out quietly (empty message); a lost service is announced once.
    const Error dropped = streamed ? Error{ErrorCode::unavailable, ""} : streamed.error();
    if (!reconnect.wait(dropped)) {
      if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "interrupted");
      return fail(streamed ? Error{ErrorCode::unavailable, "the log stream keeps ending early"}
                           : streamed.error());
    }
    debug_log("log stream of {} dropped; resuming at \"{}\"", what, cursor.offset_query());
    if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "interrupted");
  }
}

Result<api::RunStatus> print_logs(client::ApiClient& client, Printer& printer,
                                  const std::string& workspace, const LogsOptions& options) {
  // --attempt N picks where reading starts; once the service announced an attempt, the
  // follower's own (it resumes the attempt it was reading).
  const LogSource source = [&](client::LogQuery query, const LogEventHandler& on_event) {
    if (query.attempt == 0) query.attempt = options.attempt.value_or(0);
    return client.stream_logs(workspace, options.run_id, query, on_event);
  };
  auto end_event =
      print_log_events(source, printer, selected_task(options), options.follow, options.run_id);
  if (!end_event) return fail(end_event.error());
  if (!*end_event) {
    return fail(ErrorCode::internal, "the log stream of {} ended without an end event",
                options.run_id);
  }
  return status_of(**end_event);
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
                   "Only this task: main, chief-0, ps-N, worker-N, evaluator-0, rank-N, mpirun, or preparing "
                   "(the build of the run's pip_packages environment)");
  logs->add_option("--rank", options->rank, "Only rank N of an MPI or PyTorch run (task rank-N)");
  logs->add_option("--attempt", options->attempt,
                   "Attempt N of a retried run (default: the current one; with -f: from N on)");
  logs->footer(R"(
Without --task or --rank, every task's log is printed merged in the order written, each line of
a distributed run prefixed with its task: "[worker-1] step 10 loss 0.31". An unknown task is an
error that lists the run's tasks (exit 7). A run with pip_packages also has the log "preparing":
the output of building its environment (venv, then pip), printed first as "[preparing] ...".

Following survives a dropped connection: it resumes where it stopped, without losing or
repeating bytes. When the run is retried (limits.max_retries), following goes on with the next
attempt's log, and a line on stderr says so. Every attempt's log is kept: --attempt N prints an
earlier one (`run show` lists them). Ctrl-C stops following; the run goes on.

Examples:
  trainctl logs run-k3x9q2m7ab
  trainctl logs run-k3x9q2m7ab -f --task worker-0
  trainctl logs run-k3x9q2m7ab --rank 3
  trainctl logs run-k3x9q2m7ab --task mpirun
  trainctl logs run-k3x9q2m7ab --task preparing
  trainctl logs run-k3x9q2m7ab --attempt 1)");
  on_parsed(logs, selected, options, run_logs);
}

}  // namespace trainctl::cli
