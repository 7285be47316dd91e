// The Slurm engine: a run is one Slurm job whose batch step is the run's node agent
// (slurm_engine.hpp, docs/slurm.md). The run directory keeps the job id (slurm_job), the plan
// (launch.json), the agent's credential (its hash) and the state the agent sends (state.json).
#include "trainctl/service/engines/slurm_engine.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "../slurm/captured_program.hpp"
#include "trainctl/service/engines/agent_credential.hpp"
#include "trainctl/service/engines/node_states.hpp"
#include "trainctl/service/engines/outcome_policy.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace engines {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_job_file = "slurm_job";      // the job id and the SLURM_CONF used
constexpr std::string_view k_script_file = "slurm_job.sh";  // the batch script sbatch read
// Present when a run of one node had failed or ended, as its agent's reports said, before its
// cancel was asked: that outcome stands (observe).
constexpr std::string_view k_decided_before_cancel_file = "decided_before_cancel";
constexpr auto k_command_timeout = std::chrono::seconds(30);
constexpr size_t k_max_command_output = 1u << 20;
// How long a cancel may take the agent before Slurm is asked to end the job: the supervisor's
// grace period (10 s by default) and some.
constexpr int64_t k_cancel_slack_ms = 30'000;

using util::trimmed;

// Slurm's job states that mean the job is over (squeue -t all).
bool is_final_slurm_state(std::string_view state) {
  static constexpr std::string_view k_final[] = {
      "COMPLETED", "FAILED",  "CANCELLED", "TIMEOUT",     "NODE_FAIL", "PREEMPTED",
      "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED"};
  return std::ranges::find(k_final, state) != std::end(k_final);
}

// What squeue says of a job.
struct JobStatus {
  std::string state;   // PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, ...
  std::string reason;  // Priority, Resources, None, ...
  std::string nodes;   // its node list once it has nodes ("n1", "n[1-2]")
};

// A job the engine follows.
struct TrackedJob {
  std::string id;
  std::string slurm_conf;
  // The run's plan (its tasks, nodes and success rule: what merging its nodes' states needs).
  std::shared_ptr<const spec::LaunchPlan> plan;
  std::optional<JobStatus> status = std::nullopt;                 // nullopt: not listed (yet)
  std::optional<std::chrono::steady_clock::time_point> ended_at = std::nullopt;  // first seen over, or gone
  int64_t ended_at_unix_ms = 0;                                   // the same, by the wall clock
  bool scanceled = false;  // a late cancel was handed to scancel
  // When the run's final state, stopped by Slurm from outside, was first read (observe waits
  // for squeue's account of the job's end, for at most the final state's grace, from then).
  std::optional<std::chrono::steady_clock::time_point> stopped_outside_seen_at = std::nullopt;
};

// The job of the run in `run_dir`: "<id>\n<SLURM_CONF or empty>\n".
struct JobFile {
  std::string id;
  std::string slurm_conf;
};

Result<JobFile> read_job_file(const fs::path& run_dir) {
  auto text = util::read_file(run_dir / k_job_file, 4096);
  if (!text) return fail(text.error());
  const auto lines = util::split(*text, '\n');
  if (lines.empty() || lines[0].empty()) return fail(ErrorCode::internal, "{} is empty", k_job_file);
  return JobFile{std::string(lines[0]), lines.size() > 1 ? std::string(lines[1]) : ""};
}

// The batch script: the agent, nothing else (on every node of a multi-node job, one step with a
// task per node that may use every CPU of its node). Its variables come from sbatch's --export.
std::string batch_script(const fs::path& agent, int nodes) {
  if (nodes == 1) return fmt::format("#!/bin/sh\nexec '{}' node-agent\n", agent.string());
  return fmt::format(
      "#!/bin/sh\nexec srun --nodes={0} --ntasks-per-node=1 --cpus-per-task=\"$SLURM_CPUS_ON_NODE\" "
      "--cpu-bind=none --kill-on-bad-exit=0 '{1}' node-agent\n",
      nodes, agent.string());
}

Result<spec::LaunchPlan> read_plan(const fs::path& run_dir) {
  auto text = util::read_file(run_dir / k_launch_file);
  if (!text) return fail(text.error());
  auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(ErrorCode::internal, "{} is not JSON", k_launch_file);
  return spec::LaunchPlan::from_json(json);
}

// Slurm's --time in minutes, rounded up; empty for no limit.
std::string time_limit(int64_t seconds) {
  if (seconds <= 0) return {};
  return std::to_string((seconds + 59) / 60);
}

class SlurmEngine final : public Engine {
 public:
  explicit SlurmEngine(SlurmEngineOptions options) : m_options(std::move(options)) {
    m_poller = std::thread([this] { poll_loop(); });
  }
  ~SlurmEngine() override {
    {
      std::lock_guard lock(m_mutex);
      m_stopping = true;
    }
    m_wake.notify_all();
    m_poller.join();
  }
  SlurmEngine(const SlurmEngine&) = delete;
  SlurmEngine& operator=(const SlurmEngine&) = delete;

  bool queues_runs() const override { return true; }

  Result<void> start(const fs::path& run_dir, const spec::LaunchPlan& plan,
                     const ComputeRecord& target) override {
    if (m_options.advertise_url.empty()) {
      return fail(ErrorCode::invalid_argument,
                  "runs on Slurm need the address the nodes reach this service at: start "
                  "trainctld with --advertise-url URL (and --bind)");
    }
    if (::access((run_dir / k_job_file).c_str(), F_OK) == 0) {
      return fail(ErrorCode::conflict, "run {} was submitted to Slurm already", plan.run_id);
    }
    // What the job needs is written before sbatch but made durable after it: the fsyncs (about
    // 10 ms each here) then overlap Slurm's own start instead of delaying it.
    constexpr auto later = util::Sync::deferred;
    if (auto written = util::write_file_atomic(run_dir / k_launch_file,
                                               plan.to_json().dump() + "\n", 0644, later);
        !written) {
      return written;
    }
    if (auto written = write_run_state(run_dir, pending_state(plan), later); !written) return written;
    auto credential = issue_agent_credential(run_dir, later);
    if (!credential) return fail(credential.error());
    if (auto written = util::write_file_atomic(
            run_dir / k_script_file, batch_script(m_options.agent_program, node_count(plan)), 0644,
            later);
        !written) {
      return written;
    }
    auto job = submit(run_dir, plan, target, *credential);
    if (!job) return fail(job.error());
    if (auto written = util::write_file_atomic(run_dir / k_job_file,
                                               fmt::format("{}\n{}\n", *job, target.slurm.conf));
        !written) {
      return written;
    }
    spdlog::info("run {}: Slurm job {}", plan.run_id, *job);
    track(run_dir, JobFile{*job, target.slurm.conf}, std::make_shared<const spec::LaunchPlan>(plan));
    for (const std::string_view file :
         {k_launch_file, k_state_file, k_agent_credential_file, k_script_file}) {
      if (auto synced = util::sync_file(run_dir / file); !synced) return synced;
    }
    return {};
  }

  Result<RunObservation> observe(const fs::path& run_dir) override {
    const auto job = tracked(run_dir);
    auto state = read_state(run_dir, job);
    if (!state) return fail(state.error());
    if (job) state->observation.placement = placement_of(*job, state->observation.tasks);
    if (job && job->status && job->status->state == "PENDING" &&
        state->observation.phase == RunObservation::Phase::starting) {
      state->observation.waiting = fmt::format("Slurm job {} is pending: {}", job->id, job->status->reason);
    }
    if (state->observation.phase == RunObservation::Phase::finished) {
      if (job && stopped_from_outside(*state)) {
        // Its agents say Slurm stopped the job, not why: Slurm's account of the job's end does
        // (a time limit, a lost node, a preemption), once squeue has seen it end.
        if (!job->ended_at && !outside_grace_over(run_dir)) {
          state->observation.phase = RunObservation::Phase::running;
          return std::move(state->observation);
        }
        if (take_slurms_account(*state, *job)) (void)write_run_state(run_dir, *state);
      }
      finish(run_dir);
      return std::move(state->observation);
    }
    if (job && !job->ended_at) scancel_if_cancel_is_late(run_dir, *job);
    if (!job || !job->ended_at) return std::move(state->observation);
    if (std::chrono::steady_clock::now() - *job->ended_at < m_options.final_state_grace) {
      return std::move(state->observation);  // the agent may be sending its final state
    }
    // Slurm ended the job and its agent did not say how the run ended: Slurm's account.
    settle(*state, *job, run_dir);
    (void)write_run_state(run_dir, *state);
    finish(run_dir);
    return std::move(state->observation);
  }

  Result<void> cancel(const fs::path& run_dir) override {
    // The first cancel's time is the one that counts (what was reported before it may stand):
    // a cancel asked again leaves the marker as it is.
    if (::access((run_dir / k_cancel_file).c_str(), F_OK) != 0) {
      note_decided_before_cancel(run_dir);
      const auto marker =
          fmt::format("requested at {}\n", util::format_rfc3339(util::now_unix_ms()));
      if (auto written = util::write_file_atomic(run_dir / k_cancel_file, marker); !written) {
        return written;
      }
    }
    auto job = read_job_file(run_dir);
    if (!job) return fail(job.error());
    // A running agent sees the marker (it asks every 300 ms) and has the run's supervisor stop
    // every task: the run ends Canceled with its logs and outputs. A job still pending is
    // scancel'ed; one whose agents have not ended the run in time is scancel'ed too (observe).
    // What squeue said last may be a pending job that is running by now, its tasks started: only
    // Slurm knows, so scancel is told to end the job only if it is still pending. A plain scancel
    // here would signal the tasks of a running job directly, before its agents hear of the
    // cancel; they would be seen killed, not stopped.
    const auto followed = tracked(run_dir);
    const bool running = followed && followed->status && followed->status->state == "RUNNING";
    if (running) return {};
    auto canceled = run_slurm_command({"scancel", "--state=PENDING", job->id}, job->slurm_conf);
    if (!canceled) return fail(canceled.error());
    return {};
  }

  Result<RunObservation> recover(const fs::path& run_dir) override {
    auto job = read_job_file(run_dir);
    if (!job) {
      return fail(ErrorCode::not_found, "the run was not submitted to Slurm: {}", job.error().message);
    }
    auto plan = read_plan(run_dir);
    if (!plan) return fail(plan.error());
    track(run_dir, *job, std::make_shared<const spec::LaunchPlan>(std::move(*plan)));
    poll_once();
    return observe(run_dir);
  }

 private:
  // The run's state: what its agent sent, or for a run of several nodes what their agents sent,
  // merged (written as the run's state once finished).
  static Result<RunState> read_state(const fs::path& run_dir, const std::optional<TrackedJob>& job) {
    if (!job || !job->plan || node_count(*job->plan) == 1) {
      auto state = read_run_state(run_dir);
      if (state && overrule_failure_after_cancel(run_dir, *state)) {
        if (auto written = write_run_state(run_dir, *state); !written) return fail(written.error());
      }
      return state;
    }
    if (auto current = read_run_state(run_dir);
        current && current->observation.phase == RunObservation::Phase::finished) {
      return current;
    }
    RunState merged = merge_node_states(*job->plan, run_dir);
    if (merged.observation.phase == RunObservation::Phase::finished) {
      if (auto written = write_run_state(run_dir, merged); !written) return fail(written.error());
    }
    return merged;
  }

  // A run of one node: whether what its agent reported until now decides it already (it ended,
  // a task failed, mpirun ended), noted before the cancel marker is written, so that a report
  // arriving in between counts as one after the cancel.
  static void note_decided_before_cancel(const fs::path& run_dir) {
    const auto plan = read_plan(run_dir);
    if (!plan || node_count(*plan) != 1) return;
    const auto state = read_run_state(run_dir);
    if (!state) return;
    const auto& launcher = state->launcher;
    const bool decided = state->observation.phase == RunObservation::Phase::finished ||
                         policy_for(plan->success)(state->observation.tasks).has_value() ||
                         (launcher && launcher->state != task_state::k_pending &&
                          launcher->state != task_state::k_running);
    if (!decided) return;
    if (auto written = util::write_file_atomic(run_dir / k_decided_before_cancel_file, "decided\n");
        !written) {
      spdlog::warn("run {}: {}", plan->run_id, written.error().message);
    }
  }

  // A run of one node whose agent's final state says Failed or TimedOut after a cancel that came
  // first (nothing in its reports had decided it before): what failed was the run being stopped,
  // or came too late; it is Canceled. Returns whether `state` was changed.
  static bool overrule_failure_after_cancel(const fs::path& run_dir, RunState& state) {
    auto& run = state.observation;
    if (run.phase != RunObservation::Phase::finished ||
        (run.outcome != api::RunStatus::Failed && run.outcome != api::RunStatus::TimedOut)) {
      return false;
    }
    const bool decided_before =
        ::access((run_dir / k_decided_before_cancel_file).c_str(), F_OK) == 0;
    if (!cancel_asked_at_ms(run_dir) || decided_before) return false;
    run.outcome = api::RunStatus::Canceled;
    run.exit_code.reset();
    run.reason = "canceled";
    run.first_failed_task.clear();
    return true;
  }

  // "Slurm job 42 on n1", as squeue last told.
  // "Slurm job 7 on n[1-2]": the nodes as squeue says, or, before squeue has seen the job
  // running (a short run may end between two polls), as its agents reported them.
  static std::string placement_of(const TrackedJob& job, const std::vector<TaskObservation>& tasks) {
    if (job.status && !job.status->nodes.empty()) {
      return fmt::format("Slurm job {} on {}", job.id, job.status->nodes);
    }
    std::vector<std::string> hosts;
    for (const auto& task : tasks) {
      if (!task.host.empty() && std::ranges::find(hosts, task.host) == hosts.end()) hosts.push_back(task.host);
    }
    if (hosts.empty()) return fmt::format("Slurm job {}", job.id);
    return fmt::format("Slurm job {} on {}", job.id, fmt::join(hosts, ","));
  }

  // A cancel the agent has not carried out within the run's grace period and some slack (its
  // node lost, the agent stuck): Slurm ends the job.
  void scancel_if_cancel_is_late(const fs::path& run_dir, const TrackedJob& job) {
    const auto asked_ms = cancel_asked_at_ms(run_dir);
    if (!asked_ms || util::now_unix_ms() - *asked_ms < k_cancel_slack_ms) return;
    {
      std::lock_guard lock(m_mutex);
      auto found = m_jobs.find(run_dir.string());
      if (found == m_jobs.end() || found->second.scanceled) return;
      found->second.scanceled = true;
    }
    spdlog::warn("Slurm job {}: its agent did not stop the run in time; scancel", job.id);
    (void)run_slurm_command({"scancel", job.id}, job.slurm_conf);
  }

  // A run whose verdict is that Slurm stopped its job from outside trainctl (its agents saw
  // Slurm's signal without a cancel from trainctl), not a failure or a cancel decided before.
  static bool stopped_from_outside(const RunState& state) {
    const auto& run = state.observation;
    return !state.stopped_outside.empty() && run.outcome == api::RunStatus::Canceled &&
           run.reason == state.stopped_outside;
  }

  // Whether the final state's grace has passed since a run stopped from outside was first seen
  // finished (noted on the first call).
  bool outside_grace_over(const fs::path& run_dir) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(m_mutex);
    const auto found = m_jobs.find(run_dir.string());
    if (found == m_jobs.end()) return true;
    auto& seen_at = found->second.stopped_outside_seen_at;
    if (!seen_at) seen_at = now;
    return now - *seen_at >= m_options.final_state_grace;
  }

  // What Slurm's end of the job says of the run, when it says more than that the job was stopped:
  // its time limit makes the run TimedOut, a lost node or a preemption a signal-class failure
  // (retried when the run's limits allow). Returns whether it did (and `state` changed).
  static bool take_slurms_account(RunState& state, const TrackedJob& job) {
    auto& run = state.observation;
    const std::string slurm_state = job.status ? job.status->state : "";
    if (slurm_state == "TIMEOUT" || slurm_state == "DEADLINE") {
      run.outcome = api::RunStatus::TimedOut;
      run.reason = fmt::format("Slurm job {} reached its time limit", job.id);
    } else if (slurm_state == "NODE_FAIL" || slurm_state == "BOOT_FAIL" || slurm_state == "PREEMPTED") {
      run.outcome = api::RunStatus::Failed;
      run.exit_code = 128 + 9;  // like a task killed by a signal: retryable
      run.reason = fmt::format("Slurm job {} ended {}: a node was lost", job.id, slurm_state);
    } else {
      return false;
    }
    return true;
  }

  // When the run's cancel marker was written (unix ms); nullopt when no cancel was asked.
  static std::optional<int64_t> cancel_asked_at_ms(const fs::path& run_dir) {
    struct stat marker {};
    if (::stat((run_dir / k_cancel_file).c_str(), &marker) != 0) return std::nullopt;
    return int64_t{marker.st_mtim.tv_sec} * 1000 + marker.st_mtim.tv_nsec / 1'000'000;
  }

  // state.json before the agent's first word: every task pending.
  static RunState pending_state(const spec::LaunchPlan& plan) {
    RunState state;
    state.observation.tasks = pending_tasks(plan);
    return state;
  }

  // How Slurm's end of a job becomes the run's: a time limit TimedOut, a scancel Canceled, a
  // lost node a signal-class failure (retried when the run's limits allow), anything else Failed.
  // A cancel asked before the job was seen over outweighs all of these: the run is Canceled, or
  // for a run of several nodes the failure its nodes' reports had decided before the cancel
  // (node_states.hpp). A run of one node decided before the cancel, or a success decided before
  // it (taken only with the agents' final word: their outputs), has Slurm's account, as without
  // a cancel.
  static void settle(RunState& state, const TrackedJob& job, const fs::path& run_dir) {
    auto& run = state.observation;
    const std::string slurm_state = job.status ? job.status->state : "";
    run.phase = RunObservation::Phase::finished;
    run.ended_at_ms = util::now_unix_ms();
    run.exit_code.reset();
    const auto cancel_asked_ms = cancel_asked_at_ms(run_dir);
    const auto recorded = recorded_verdict(run_dir);
    const bool decided_before_cancel =
        ::access((run_dir / k_decided_before_cancel_file).c_str(), F_OK) == 0 ||
        (recorded && recorded->outcome == api::RunStatus::Completed);
    if (cancel_asked_ms && *cancel_asked_ms <= job.ended_at_unix_ms && !decided_before_cancel) {
      const auto verdict = recorded.value_or(RunVerdict{api::RunStatus::Canceled, std::nullopt, "canceled", ""});
      run.outcome = verdict.outcome;
      run.exit_code = verdict.exit_code;
      run.reason = verdict.reason;
      run.first_failed_task = verdict.first_failed_task;
    } else if (take_slurms_account(state, job)) {
      // a time limit, a lost node
    } else if (slurm_state == "CANCELLED") {
      run.outcome = api::RunStatus::Canceled;
      run.reason = fmt::format("Slurm job {} was canceled in Slurm (scancel)", job.id);
    } else {
      run.outcome = api::RunStatus::Failed;
      run.reason = slurm_state.empty()
                       ? fmt::format("Slurm job {} is gone without a final state from its agent", job.id)
                       : fmt::format("Slurm job {} ended {} without a final state from its agent "
                                     "(see the job's log on its first node)",
                                     job.id, slurm_state);
    }
    for (auto& task : run.tasks) {
      if (task.state != task_state::k_pending && task.state != task_state::k_running) continue;
      task.state = std::string(task_state::k_stopped);
      task.ended_at_ms = run.ended_at_ms;
      task.message = run.reason;
    }
  }

  // sbatch --parsable; returns the job id.
  Result<std::string> submit(const fs::path& run_dir, const spec::LaunchPlan& plan,
                             const ComputeRecord& target, const std::string& credential) {
    const int nodes = node_count(plan);
    std::vector<std::string> argv{"sbatch",
                                  "--parsable",
                                  fmt::format("--job-name=trainctl-{}", plan.run_id),
                                  fmt::format("--comment=trainctl run {}", plan.run_id),
                                  fmt::format("--nodes={}", nodes),
                                  "--ntasks-per-node=1",
                                  "--exclusive",  // a run's nodes are whole machines
                                  "--output=/dev/null",
                                  // sbatch's environment is only PATH, SLURM_CONF and the agent's
                                  // variables (run_slurm_command). A list of names here would make
                                  // slurmd load the user's login environment first (--get-user-env
                                  // is implied): a second of every start.
                                  "--export=ALL"};
    if (!target.slurm.partition.empty()) argv.push_back("--partition=" + target.slurm.partition);
    if (!target.slurm.account.empty()) argv.push_back("--account=" + target.slurm.account);
    if (!target.slurm.qos.empty()) argv.push_back("--qos=" + target.slurm.qos);
    if (target.gpus_per_node > 0) argv.push_back(fmt::format("--gres=gpu:{}", target.gpus_per_node));
    if (const auto limit = time_limit(plan.max_duration_seconds); !limit.empty()) {
      argv.push_back("--time=" + limit);
    }
    argv.push_back((run_dir / k_script_file).string());
    std::vector<std::pair<std::string, std::string>> extra{
        {"TRAINCTL_SERVICE_URL", m_options.advertise_url},
        {"TRAINCTL_RUN_ID", plan.run_id},
        {"TRAINCTL_RUN_CREDENTIAL", credential}};
    auto output = run_slurm_command(std::move(argv), target.slurm.conf, extra);
    if (!output) return fail(output.error());
    // --parsable prints "<id>" or "<id>;<cluster>" as its last line.
    std::string id;
    for (const auto line : util::split(*output, '\n')) {
      const auto field = line.substr(0, line.find(';'));
      if (!field.empty() && std::ranges::all_of(field, [](char c) { return c >= '0' && c <= '9'; })) {
        id = std::string(field);
      }
    }
    if (id.empty()) return fail(ErrorCode::internal, "sbatch printed no job id: {}", *output);
    return id;
  }

  // Runs a Slurm command (found on search_path) with SLURM_CONF when given; its output, or an
  // error quoting it.
  Result<std::string> run_slurm_command(
      std::vector<std::string> argv, const std::string& slurm_conf,
      const std::vector<std::pair<std::string, std::string>>& extra_env = {}) const {
    const std::string name = argv[0];
    const auto program = util::find_in_path(name, m_options.search_path);
    if (program.empty()) {
      return fail(ErrorCode::unavailable, "{} not found on {}: install Slurm's client commands",
                  name, m_options.search_path);
    }
    argv[0] = program.string();
    std::vector<std::pair<std::string, std::string>> env{{"PATH", m_options.search_path}};
    // The target's slurm.conf, else the service's own SLURM_CONF, as provisioning reads it.
    const char* service_conf = std::getenv("SLURM_CONF");
    if (!slurm_conf.empty()) {
      env.emplace_back("SLURM_CONF", slurm_conf);
    } else if (service_conf != nullptr && *service_conf != '\0') {
      env.emplace_back("SLURM_CONF", service_conf);
    }
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    auto ended = slurm::run_captured(argv, env, std::chrono::steady_clock::now() + k_command_timeout,
                                     k_max_command_output);
    if (!ended) return fail(ended.error());
    if (ended->timed_out || ended->status != 0) {
      return fail(ErrorCode::unavailable, "{} failed: {}", name,
                  trimmed(ended->err.empty() ? ended->out : ended->err));
    }
    return std::move(ended->out);
  }

  void track(const fs::path& run_dir, const JobFile& job, std::shared_ptr<const spec::LaunchPlan> plan) {
    std::lock_guard lock(m_mutex);
    m_jobs.try_emplace(run_dir.string(),
                       TrackedJob{.id = job.id, .slurm_conf = job.slurm_conf, .plan = std::move(plan)});
  }

  std::optional<TrackedJob> tracked(const fs::path& run_dir) const {
    std::lock_guard lock(m_mutex);
    const auto found = m_jobs.find(run_dir.string());
    if (found == m_jobs.end()) return std::nullopt;
    return found->second;
  }

  // The run has ended: its agent's credential stops working and its job is not followed.
  void finish(const fs::path& run_dir) {
    revoke_agent_credential(run_dir);
    std::lock_guard lock(m_mutex);
    m_jobs.erase(run_dir.string());
  }

  void poll_loop() {
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
      m_wake.wait_for(lock, m_options.poll_interval);
      if (m_stopping || m_jobs.empty()) continue;
      lock.unlock();
      poll_once();
      lock.lock();
    }
  }

  // One squeue per slurm.conf for every followed job; a job not listed any more is gone.
  void poll_once() {
    std::map<std::string, std::vector<std::string>> by_conf;
    {
      std::lock_guard lock(m_mutex);
      for (const auto& [dir, job] : m_jobs) by_conf[job.slurm_conf].push_back(job.id);
    }
    for (const auto& [conf, ids] : by_conf) {
      auto output = run_slurm_command(
          {"squeue", "-h", "-t", "all", "-j", fmt::format("{}", fmt::join(ids, ",")), "-o", "%i|%T|%r|%N"},
          conf);
      // squeue fails for a list of only unknown jobs ("Invalid job id specified").
      const bool all_unknown = !output && output.error().message.find("Invalid job id") != std::string::npos;
      if (!output && !all_unknown) {
        spdlog::warn("Slurm: {}", output.error().message);
        continue;
      }
      std::map<std::string, JobStatus> listed;
      if (output) {
        for (const auto line : util::split(*output, '\n')) {
          const auto fields = util::split(line, '|');
          if (fields.size() < 3) continue;
          listed[std::string(fields[0])] = {std::string(fields[1]), std::string(trimmed(fields[2])),
                                            fields.size() > 3 ? std::string(trimmed(fields[3])) : ""};
        }
      }
      std::lock_guard lock(m_mutex);
      const auto now = std::chrono::steady_clock::now();
      for (auto& [dir, job] : m_jobs) {
        if (job.slurm_conf != conf) continue;
        const auto found = listed.find(job.id);
        if (found != listed.end()) job.status = found->second;
        const bool over = found == listed.end() ? job.status.has_value() || all_unknown
                                                : is_final_slurm_state(found->second.state);
        if (over && !job.ended_at) {
          job.ended_at = now;
          job.ended_at_unix_ms = util::now_unix_ms();
        }
      }
    }
  }

  SlurmEngineOptions m_options;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  std::map<std::string, TrackedJob> m_jobs;  // by run directory
  std::thread m_poller;
};

}  // namespace

}  // namespace engines

std::unique_ptr<Engine> make_slurm_engine(SlurmEngineOptions options) {
  return std::make_unique<engines::SlurmEngine>(std::move(options));
}

}  // namespace trainctl::service
