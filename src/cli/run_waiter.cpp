#include "trainctl/cli/run_waiter.hpp"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "trainctl/api/run_status.hpp"
#include "trainctl/cli/reconnect.hpp"
#include "trainctl/cli/session.hpp"

namespace trainctl::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;
using nlohmann::json;

// The longest a request holds on one run (the service caps ?wait at 60 s).
constexpr int64_t k_longest_server_wait_seconds = 60;
// Waiting for any of several runs, how long a request holds on one of them before the others
// are looked at again.
constexpr int64_t k_any_wait_seconds = 2;

bool has_ended(const json& run) {
  const auto status = api::parse_run_status(run.value("status", ""));
  return status && api::is_terminal(*status);
}

// The seconds a request may hold on a run: at most `longest`, at most what is left.
int wait_seconds(SteadyClock::time_point deadline, int64_t longest) {
  if (deadline == SteadyClock::time_point::max()) return static_cast<int>(longest);
  const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, longest));
}

// Outcomes from worst to best, for exit_code_for_runs.
constexpr api::RunStatus k_outcome_rank[] = {api::RunStatus::Failed, api::RunStatus::TimedOut,
                                             api::RunStatus::Canceled};

}  // namespace

Result<std::vector<json>> wait_for_runs(client::ApiClient& client, Printer& printer,
                                        const std::string& workspace,
                                        const std::vector<std::string>& ids, WaitFor mode,
                                        SteadyClock::time_point deadline) {
  std::vector<json> runs(ids.size(), json::object());
  Reconnect reconnect(Reconnect::k_default_patience, {}, [&](const Error& error) {
    printer.notice(fmt::format("{}; retrying", error.message));
  });
  // Reads run `index`, holding the request up to `hold` seconds until it ends; false when a
  // transient failure was waited out and the read should be made again.
  const auto read = [&](size_t index, int hold) -> Result<bool> {
    auto run = client.get_run(workspace, ids[index], hold);
    if (!run) {
      if (Reconnect::is_transient(run.error()) && SteadyClock::now() < deadline &&
          reconnect.wait(run.error())) {
        return false;
      }
      if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "interrupted");
      return fail(run.error());
    }
    reconnect.reset();
    runs[index] = std::move(*run);
    return true;
  };
  const auto first_pending = [&] {
    return static_cast<size_t>(
        std::find_if(runs.begin(), runs.end(), [](const json& run) { return !has_ended(run); }) -
        runs.begin());
  };
  // Waiting for all, each run is held on in turn: every run costs a request or a few. Waiting
  // for any, every run not ended is looked at, then the first is held on briefly.
  bool looked_at_all = mode == WaitFor::all;
  while (true) {
    if (!looked_at_all) {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (has_ended(runs[i])) continue;
        auto done = read(i, 0);
        if (!done) return fail(done.error());
        if (!*done) --i;  // read it again
      }
      looked_at_all = true;
    }
    const size_t pending = first_pending();
    if (pending == ids.size()) return runs;
    if (mode == WaitFor::any && std::any_of(runs.begin(), runs.end(), has_ended)) return runs;
    if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "interrupted");
    if (SteadyClock::now() >= deadline) {
      return fail(ErrorCode::timeout, "run {} is still {}", ids[pending],
                  runs[pending].value("status", "not looked at"));
    }
    const int64_t longest =
        mode == WaitFor::all ? k_longest_server_wait_seconds : k_any_wait_seconds;
    auto done = read(pending, wait_seconds(deadline, longest));
    if (!done) return fail(done.error());
    if (mode == WaitFor::any) looked_at_all = false;
  }
}

int exit_code_for_runs(const std::vector<json>& runs) {
  std::vector<api::RunStatus> outcomes;
  for (const auto& run : runs) {
    if (const auto status = api::parse_run_status(run.value("status", ""))) {
      if (api::is_terminal(*status)) outcomes.push_back(*status);
    }
  }
  for (const auto outcome : k_outcome_rank) {
    if (std::find(outcomes.begin(), outcomes.end(), outcome) != outcomes.end()) {
      return api::exit_code_for_outcome(outcome);
    }
  }
  return exit_code::k_success;
}

}  // namespace trainctl::cli
