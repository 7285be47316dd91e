// `trainctl sweep list|show|cancel` and following a sweep.
#include "trainctl/cli/commands/sweep.hpp"

#include <chrono>
#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command_table.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/resources.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;

constexpr auto k_poll_interval = std::chrono::milliseconds(500);

std::string params_text(const json& params) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : params.items()) parts.push_back(name + " " + format_cell(value));
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string objective_text(const json& sweep, const json& trial) {
  return fmt::format("{} {}", sweep.value("primary_metric", ""), format_cell(trial.value("objective", json())));
}

}  // namespace

Result<void> validate(const SweepOptions& options) {
  if (options.sweep_id.empty()) return fail(ErrorCode::usage, "a sweep id is required");
  return api::validate_name("sweep", options.sweep_id);
}

Description describe_sweep(const json& sweep) {
  Description description{
      .fields = {{"ID", format_field(sweep, "id")},
                 {"Experiment", format_field(sweep, "experiment")},
                 {"Status", format_field(sweep, "status")},
                 {"Sampling", format_field(sweep, "sampling")},
                 {"Objective", fmt::format("{} {}", format_field(sweep, "goal"),
                                           format_field(sweep, "primary_metric"))},
                 {"Trials", fmt::format("{} of {} started, {} running (at most {} at once)",
                                        format_field(sweep, "trials_started"),
                                        format_field(sweep, "max_total_trials"),
                                        format_field(sweep, "trials_running"),
                                        format_field(sweep, "max_concurrent_trials"))},
                 {"Seed", format_field(sweep, "seed")},
                 {"Created", format_time(sweep.value("created_at", json()))},
                 {"Ended", format_time(sweep.value("ended_at", json()))},
                 {"Message", format_field(sweep, "message")}},
      .sections = {}};
  if (const auto best = sweep.value("best", json()); best.is_object()) {
    description.fields.emplace_back(
        "Best", fmt::format("trial {}: run {}, {} ({})", format_field(best, "trial"),
                            format_field(best, "run_id"), objective_text(sweep, best),
                            params_text(best.value("params", json::object()))));
  }
  Description::Section trials{
      .title = fmt::format("Trials, the best {} first", format_field(sweep, "primary_metric")),
      .headers = {"TRIAL", "RUN", "STATUS", "OBJECTIVE", "PARAMS", "FAILURE"},
      .rows = {}};
  for (const auto& trial : sweep.value("trials", json::array())) {
    trials.rows.push_back({format_field(trial, "trial"), format_field(trial, "run_id"),
                           format_field(trial, "status"), format_cell(trial.value("objective", json())),
                           params_text(trial.value("params", json::object())),
                           format_field(trial, "failure_reason")});
  }
  description.sections.push_back(std::move(trials));
  return description;
}

Result<int> follow_sweep(client::ApiClient& client, Session& session, const std::string& sweep_id) {
  InterruptScope interrupt_scope;
  auto& printer = session.printer();
  std::set<std::string> started;  // trials whose start was printed, by run id
  std::set<std::string> ended;    // and whose end was
  std::string best_seen;
  while (true) {
    auto sweep = client.get_sweep(session.workspace(), sweep_id);
    if (!sweep) return fail(sweep.error());
    auto trials = sweep->value("trials", json::array());
    std::sort(trials.begin(), trials.end(), [](const json& a, const json& b) {
      return a.value("trial", 0) < b.value("trial", 0);
    });
    for (const auto& trial : trials) {
      const std::string run = trial.value("run_id", "");
      const std::string status = trial.value("status", "");
      if (started.insert(run).second) {
        printer.message(fmt::format("trial {} started as {}: {}", format_field(trial, "trial"), run,
                                    params_text(trial.value("params", json::object()))));
      }
      const bool finished = status == "Completed" || status == "Failed" || status == "Canceled" ||
                            status == "TimedOut";
      if (finished && ended.insert(run).second) {
        std::string line = fmt::format("trial {} {} ({}): {}", format_field(trial, "trial"), status,
                                       run, objective_text(*sweep, trial));
        if (!trial.value("failure_reason", "").empty()) {
          line += fmt::format(" ({})", trial.value("failure_reason", ""));
        }
        printer.message(line);
      }
    }
    if (const auto best = sweep->value("best", json()); best.is_object() &&
                                                         best.value("run_id", "") != best_seen) {
      best_seen = best.value("run_id", "");
      printer.message(fmt::format("best so far: trial {} ({}), {}", format_field(best, "trial"),
                                  best_seen, objective_text(*sweep, best)));
    }
    const std::string status = sweep->value("status", "");
    if (status != "Running") {
      printer.message(fmt::format("sweep {} {}: {}", sweep_id, status, format_field(*sweep, "message")));
      return status == "Completed" ? exit_code::k_success : exit_code::k_run_canceled;
    }
    if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "interrupted");
    std::this_thread::sleep_for(k_poll_interval);
  }
}

Result<std::string> resolve_run_or_sweep(client::ApiClient& client, const std::string& workspace,
                                         const std::string& id) {
  if (!id.starts_with("sweep-")) return id;
  auto sweep = client.get_sweep(workspace, id);
  if (!sweep) return fail(sweep.error());
  const auto best = sweep->value("best", json());
  if (!best.is_object()) {
    return fail(ErrorCode::not_found, "sweep {} has no Completed trial with a value of {} yet", id,
                sweep->value("primary_metric", ""));
  }
  return best.value("run_id", "");
}

Result<int> run_sweep_list(Session& session) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto sweeps = (*client)->list_sweeps(session.workspace());
  if (!sweeps) return fail(sweeps.error());
  session.printer().print_list(sweep_kind(), sweeps->value("items", json::array()));
  return exit_code::k_success;
}

Result<int> run_sweep_show(Session& session, const SweepOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto sweep = (*client)->get_sweep(session.workspace(), options.sweep_id);
  if (!sweep) return fail(sweep.error());
  session.printer().print_description(sweep_kind(), *sweep, describe_sweep(*sweep));
  return exit_code::k_success;
}

Result<int> run_sweep_cancel(Session& session, const SweepOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto sweep = (*client)->cancel_sweep(session.workspace(), options.sweep_id);
  if (!sweep) return fail(sweep.error());
  auto& printer = session.printer();
  if (printer.for_people()) {
    printer.message(fmt::format("sweep {} {}", options.sweep_id, sweep->value("status", "")));
  } else {
    printer.print_resource(sweep_kind(), *sweep);
  }
  return exit_code::k_success;
}

void add_sweep_commands(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand("sweep", "List, inspect and cancel hyperparameter sweeps");
  group->require_subcommand(1);
  group->footer(R"(
A sweep starts with `trainctl submit` of a spec with a sweep: section (docs/sweeps.md).

Examples:
  trainctl submit svm-sweep.yaml --stream
  trainctl sweep show sweep-k3x9q2m7ab
  trainctl register --run sweep-k3x9q2m7ab --name digits-svm --path outputs/model)");
  auto* list = group->add_subcommand("list", "List sweeps, newest first");
  list->alias("ls");
  on_parsed(list, selected, run_sweep_list);
  auto show_options = std::make_shared<SweepOptions>();
  auto* show = group->add_subcommand("show", "A sweep, its best trial and every trial ranked");
  show->add_option("SWEEP", show_options->sweep_id, "Sweep id")->required();
  on_parsed(show, selected, show_options, run_sweep_show);
  auto cancel_options = std::make_shared<SweepOptions>();
  auto* cancel = group->add_subcommand("cancel", "Stop a sweep: no new trials; running ones are canceled");
  cancel->add_option("SWEEP", cancel_options->sweep_id, "Sweep id")->required();
  on_parsed(cancel, selected, cancel_options, run_sweep_cancel);
}

}  // namespace trainctl::cli
