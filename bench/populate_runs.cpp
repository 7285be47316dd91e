// bench_populate_runs HOME COUNT: adds COUNT finished runs to the store of the trainctld whose
// home is HOME, through the same Store the service uses, so `run list` / `run show` can be
// measured against a realistically large history without executing thousands of processes.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "trainctl/service/store.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace {

nlohmann::json example_payload(int index) {
  return {{"experiment", fmt::format("bench-{}", index % 10)},
          {"name", ""},
          {"compute", "local"},
          {"snapshot_id", std::string(64, 'a')},
          {"estimator",
           {{"framework", "generic"},
            {"framework_version", ""},
            {"entry_script", "train.py"},
            {"script_params", {"--epochs", std::to_string(index % 50)}},
            {"pip_packages", nlohmann::json::array()},
            {"conda_packages", nlohmann::json::array()},
            {"use_gpu", false},
            {"node_count", 1},
            {"process_count_per_node", 1},
            {"distributed_training",
             {{"backend", "none"},
              {"worker_count", 0},
              {"parameter_server_count", 0},
              {"chief", true},
              {"evaluator", false}}}}},
          {"environment_variables", {{"SEED", std::to_string(index)}}},
          {"limits", {{"max_run_duration_seconds", 0}, {"max_retries", 0}}},
          {"tags", {{"bench", "true"}}}};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace trainctl;
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_populate_runs HOME COUNT\n");
    return 2;
  }
  const std::filesystem::path home = argv[1];
  const int count = std::atoi(argv[2]);
  auto store = service::Store::open(home / "trainctl.db");
  if (!store) {
    std::fprintf(stderr, "cannot open the store: %s\n", store.error().message.c_str());
    return 1;
  }
  for (int i = 0; i < count; ++i) {
    service::RunRecord draft;
    draft.workspace = "default";
    draft.payload = example_payload(i);
    draft.experiment = draft.payload["experiment"];
    draft.compute = "local";
    draft.snapshot_id = draft.payload["snapshot_id"];
    draft.request_hash = util::sha256_hex(draft.payload.dump());
    const int64_t now = util::now_unix_ms();
    draft.created_at_ms = now;
    draft.updated_at_ms = now;
    auto created = (*store)->create_run(draft);
    if (!created) {
      std::fprintf(stderr, "create_run: %s\n", created.error().message.c_str());
      return 1;
    }
    service::RunUpdate done;
    done.status = api::RunStatus::Completed;
    done.exit_code = 0;
    done.started_at_ms = now;
    done.ended_at_ms = now + 1000;
    if (auto updated = (*store)->update_run(created->run.id, done); !updated) {
      std::fprintf(stderr, "update_run: %s\n", updated.error().message.c_str());
      return 1;
    }
  }
  std::printf("added %d runs\n", count);
  return 0;
}
