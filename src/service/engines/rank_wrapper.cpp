// `trainctld rank ...`: what mpirun starts for each rank of an MPI run. It runs the rank's
// command as its child and reports the rank's start and end in the run's status directory, for
// the supervisor to observe (run_state.hpp, docs/engines.md). It is on the start path of every
// rank, so it does little: no logging library, no configuration, one fork.
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>
#include <string_view>

#include "trainctl/api/metrics.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/task_launcher.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/time.hpp"

extern char** environ;

namespace trainctl::service::engines {

namespace {

constexpr int k_usage_exit_code = 2;
constexpr int k_cannot_start_exit_code = 127;
constexpr std::string_view k_rank_variable = "OMPI_COMM_WORLD_RANK";

struct RankOptions {
  std::filesystem::path status_dir;
  std::filesystem::path logs_dir;
  int ranks_per_node = 0;
  // CUDA_VISIBLE_DEVICES per node rank (`--node-gpus "0,1;2,3"`); empty: left as inherited.
  std::vector<std::string> node_gpus;
  // The rank's working directory (`--wdir`), made by its node's supervisor, which may still be
  // making it when mpirun starts the rank on another host; empty: the directory mpirun gave.
  std::filesystem::path wdir;
  std::vector<std::string> argv;  // the rank's command
};

// How long a rank waits for its working directory: the run's start timeout.
constexpr auto k_wdir_wait = std::chrono::seconds(60);

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// argv as `trainctld rank --status-dir D --logs-dir L --ranks-per-node P [--node-gpus G]
// [--wdir W] -- ARGV...`.
Result<RankOptions> parse_rank_options(int argc, char** argv) {
  RankOptions options;
  int next = 2;
  for (; next < argc && std::string_view(argv[next]) != "--"; next += 2) {
    const std::string_view option = argv[next];
    if (next + 1 >= argc) return fail(ErrorCode::usage, "{} needs a value", option);
    const std::string_view value = argv[next + 1];
    if (option == "--status-dir") {
      options.status_dir = value;
    } else if (option == "--logs-dir") {
      options.logs_dir = value;
    } else if (option == "--ranks-per-node") {
      const auto count = parse_int(value);
      if (!count || *count <= 0) {
        return fail(ErrorCode::usage, "--ranks-per-node must be a positive integer, not '{}'",
                    value);
      }
      options.ranks_per_node = *count;
    } else if (option == "--wdir") {
      options.wdir = value;
    } else if (option == "--node-gpus") {
      for (const auto gpus : util::split(value, ';')) options.node_gpus.emplace_back(gpus);
    } else {
      return fail(ErrorCode::usage, "unknown option '{}'", option);
    }
  }
  if (options.status_dir.empty() || options.logs_dir.empty() || options.ranks_per_node == 0) {
    return fail(ErrorCode::usage, "--status-dir, --logs-dir and --ranks-per-node are required");
  }
  if (next + 1 >= argc) return fail(ErrorCode::usage, "no command after '--'");
  options.argv.assign(argv + next + 1, argv + argc);
  return options;
}

// The rank mpirun gave this process.
Result<int> rank_from_environment() {
  const char* text = std::getenv(k_rank_variable.data());
  if (text == nullptr)
    return fail(ErrorCode::usage, "{} is not set: run me under mpirun", k_rank_variable);
  const auto rank = parse_int(text);
  if (!rank || *rank < 0)
    return fail(ErrorCode::usage, "{}='{}' is not a rank", k_rank_variable, text);
  return *rank;
}

// The variables that place a rank on its node. mpirun runs every rank on this one host, so it
// numbers them as local to one node; the run's nodes are ranks_per_node ranks each, and a rank
// is told its place on its own node, as on separate hosts, consistent with that node's GPUs.
std::vector<std::pair<std::string, std::string>> node_placement(const RankOptions& options,
                                                                 const TaskObservation& rank) {
  const std::string local_rank = std::to_string(rank.index % options.ranks_per_node);
  const std::string local_size = std::to_string(options.ranks_per_node);
  return {{"TRAINCTL_TASK", rank.name},
          {"TRAINCTL_METRICS_FILE", (options.logs_dir / api::metrics_file_name(rank.name)).string()},
          {"TRAINCTL_NODE_RANK", std::to_string(rank.node_rank)},
          {"TRAINCTL_LOCAL_RANK", local_rank},
          {"TRAINCTL_LOCAL_SIZE", local_size},
          {"OMPI_COMM_WORLD_LOCAL_RANK", local_rank},
          {"OMPI_COMM_WORLD_LOCAL_SIZE", local_size},
          {"OMPI_COMM_WORLD_NODE_RANK", local_rank}};
}

// The rank's command as a task: this process's environment (Open MPI's variables included)
// with the rank's placement on its node, in this directory.
spec::TaskLaunch rank_launch(const RankOptions& options, const TaskObservation& rank) {
  spec::TaskLaunch launch;
  launch.name = rank.name;
  launch.role = rank.role;
  launch.index = rank.index;
  launch.node_rank = rank.node_rank;
  launch.argv = options.argv;
  const auto placement = node_placement(options, rank);
  const auto placed = [&](std::string_view name) {
    return std::ranges::any_of(placement, [&](const auto& variable) { return variable.first == name; });
  };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view variable = *entry;
    const size_t equals = variable.find('=');
    if (equals == std::string_view::npos) continue;
    const auto name = variable.substr(0, equals);
    if (placed(name)) continue;
    if (name == "CUDA_VISIBLE_DEVICES" && !options.node_gpus.empty()) continue;
    launch.env.emplace_back(std::string(name), std::string(variable.substr(equals + 1)));
  }
  const auto node = static_cast<size_t>(rank.node_rank);
  if (node < options.node_gpus.size()) {
    launch.env.emplace_back("CUDA_VISIBLE_DEVICES", options.node_gpus[node]);
  }
  launch.env.insert(launch.env.end(), placement.begin(), placement.end());
  std::error_code error;
  launch.cwd = options.wdir.empty() ? std::filesystem::current_path(error).string() : options.wdir.string();
  launch.log_file = (options.logs_dir / (rank.name + ".log")).string();
  return launch;
}

sigset_t forwarded_signals() {
  sigset_t signals;
  ::sigemptyset(&signals);
  for (const int signal : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&signals, signal);
  return signals;
}

void report(const RankOptions& options, const TaskObservation& rank) {
  if (auto written = write_task_report(options.status_dir, rank); !written) {
    fmt::print(stderr, "trainctld rank: {}\n", written.error().message);
  }
}

// Waits for `child` to end, forwarding the stop signals in `signals` (blocked) to it. Returns its
// waitpid status; `stop_asked` tells whether a stop signal came first.
int wait_forwarding(pid_t child, const sigset_t& signals, bool& stop_asked) {
  while (true) {
    const int signal = ::sigwaitinfo(&signals, nullptr);
    if (signal == SIGCHLD) {
      int status = 0;
      if (::waitpid(child, &status, WNOHANG) == child) return status;
    } else if (signal > 0) {
      stop_asked = true;
      ::kill(child, signal);
    }
  }
}

// Ends this process as the rank ended: the same signal (at its default action), or the same
// exit code.
int end_like(int wait_status) {
  if (!WIFSIGNALED(wait_status)) return WEXITSTATUS(wait_status);
  const int signal = WTERMSIG(wait_status);
  ::signal(signal, SIG_DFL);
  sigset_t only;
  ::sigemptyset(&only);
  ::sigaddset(&only, signal);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(signal);
  return 128 + signal;  // a signal whose default action does not end a process
}

int usage_error(const Error& error) {
  fmt::print(stderr, "trainctld rank: {}\n", error.message);
  return k_usage_exit_code;
}

// Waits until `wdir` is whole (its `logs` link, made last, is there), at most k_wdir_wait.
void wait_for_working_directory(const std::filesystem::path& wdir) {
  if (wdir.empty()) return;
  const auto deadline = std::chrono::steady_clock::now() + k_wdir_wait;
  struct stat info {};
  while (::lstat((wdir / "logs").c_str(), &info) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int run_rank(const RankOptions& options, int rank_number) {
  TaskObservation rank;
  rank.name = fmt::format("rank-{}", rank_number);
  rank.role = spec::task_role::k_rank;
  rank.index = rank_number;
  rank.node_rank = rank_number / options.ranks_per_node;
  wait_for_working_directory(options.wdir);
  const auto launch = rank_launch(options, rank);

  const sigset_t signals = forwarded_signals();
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);  // before the fork, so none is missed
  rank.started_at_ms = util::now_unix_ms();
  const auto process = start_task(launch, ProcessGroup::callers);
  if (!process) {
    rank.state = task_state::k_failed_to_start;
    rank.message = process.error().message;
    rank.ended_at_ms = rank.started_at_ms;
    report(options, rank);
    fmt::print(stderr, "{}: {}\n", rank.name, rank.message);
    return k_cannot_start_exit_code;
  }
  rank.state = task_state::k_running;
  rank.pid = process->pid;
  report(options, rank);

  bool stop_asked = false;
  const int status = wait_forwarding(process->pid, signals, stop_asked);
  record_end(rank, status, util::now_unix_ms());
  if (stop_asked) rank.state = task_state::k_stopped;
  report(options, rank);
  return end_like(status);
}

}  // namespace

int run_rank_wrapper(int argc, char** argv) {
  const auto options = parse_rank_options(argc, argv);
  if (!options) return usage_error(options.error());
  const auto rank = rank_from_environment();
  if (!rank) return usage_error(rank.error());
  return run_rank(*options, *rank);
}

}  // namespace trainctl::service::engines
