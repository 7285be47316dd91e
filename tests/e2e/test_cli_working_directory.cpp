// Scripts written for the Azure ML estimator run unchanged: each task starts in a writable working
// directory holding its source, `./outputs` and `./logs` are the run's collected folders, scratch
// files are thrown away and the stored snapshot is never changed. Checked through the real CLI
// against a real trainctld, for a single process, an MPI run of 2 nodes x 2 ranks (each rank
// checking its own place on its node and its node's GPUs) and a parameter-server run.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using namespace trainctl::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

// The classic estimator script: makedirs('./outputs'), a model saved there, a log in ./logs,
// scratch files next to the script and in a folder of the source, an import from a source
// folder, and a write over its own source file that must be refused.
const std::string k_estimator_script = R"(import os, pickle, sys
from helpers import tools

os.makedirs('./outputs', exist_ok=True)
os.makedirs('./outputs/model', exist_ok=True)
with open('./outputs/model/model.pkl', 'wb') as f:
    pickle.dump({'weights': [1, 2, 3], 'bias': tools.BIAS}, f)
os.makedirs('./logs', exist_ok=True)
with open('./logs/x.log', 'w') as f:
    f.write('epoch 1 loss 0.5\n')
with open('scratch.bin', 'wb') as f:
    f.write(b'\0' * 4096)
with open('helpers/cache.txt', 'w') as f:
    f.write('scratch in a source folder\n')
try:
    with open('main.py', 'a') as f:
        f.write('# tampered\n')
    print('wrote over its copy of main.py')
except OSError as error:
    print('source is read-only:', type(error).__name__)
print('cwd', os.getcwd())
)";

std::string read(const fs::path& file) { return trainctl::util::read_file(file).value(); }

// Submits the project and follows it to its end; returns the run id.
std::string run_to_completion(const CliEnvironment& cli, const Project& project) {
  const auto submitted = cli.run({"submit", project.spec(), "-o", "name"}, project.dir());
  INFO(submitted.out << submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::string run_id = trimmed(submitted.out);
  const auto waited = cli.run({"run", "wait", run_id}, {}, 300);
  INFO(waited.out << waited.err);
  CHECK(waited.exit_code == 0);
  return run_id;
}

// The run's files as `run files -o json` lists them: path -> size.
std::map<std::string, int64_t> run_files(const CliEnvironment& cli, const std::string& run_id) {
  const auto listed = cli.run({"run", "files", run_id, "-o", "json"});
  INFO(listed.err);
  REQUIRE(listed.exit_code == 0);
  std::map<std::string, int64_t> files;
  const auto body = json::parse(listed.out);
  const auto& items = body.is_array() ? body : body.at("items");
  for (const auto& file : items) files[file.at("path")] = file.value("size", int64_t{0});
  return files;
}

// Downloads the run's outputs into `dest` and reads outputs/<name> as JSON.
json downloaded_json(const CliEnvironment& cli, const std::string& run_id, const fs::path& dest,
                     const std::string& name) {
  if (!fs::exists(dest)) {
    const auto downloaded =
        cli.run({"run", "download", run_id, "--path", "outputs", "--dest", dest.string()});
    INFO(downloaded.err);
    REQUIRE(downloaded.exit_code == 0);
  }
  for (const auto& candidate : {dest / name, dest / "outputs" / name}) {
    if (fs::exists(candidate)) return json::parse(read(candidate));
  }
  FAIL("no " << name << " under " << dest);
  return {};
}

}  // namespace

TEST_CASE("e2e: an estimator-style script writes ./outputs and ./logs and scratch files",
          "[e2e][cli][runs][workdir]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(k_estimator_script);
  fs::create_directories(project.dir() / "src" / "helpers");
  std::ofstream(project.dir() / "src" / "helpers" / "__init__.py") << "";
  std::ofstream(project.dir() / "src" / "helpers" / "tools.py") << "BIAS = 7\n";
  const std::string original_script = read(project.dir() / "src" / "main.py");

  const std::string run_id = run_to_completion(cli, project);

  const auto logs = cli.run({"logs", run_id});
  // As root the source is an overlay: a write over a source file changes the run's copy only.
  // Other users get links to the read-only snapshot: the write is refused.
  CHECK_THAT(logs.out, Catch::Contains(::geteuid() == 0 ? "wrote over its copy of main.py"
                                                        : "source is read-only"));
  const fs::path run_dir = service.home() / "runs" / run_id;
  CHECK_THAT(logs.out, Catch::Contains("cwd " + (run_dir / "work").string()));

  const auto files = run_files(cli, run_id);
  CHECK(files.contains("outputs/model/model.pkl"));
  CHECK(files.contains("logs/x.log"));
  CHECK(files.contains("logs/main.log"));
  for (const auto& [path, size] : files) {
    INFO(path);
    CHECK(path.find("scratch") == std::string::npos);
    CHECK(path.find("cache.txt") == std::string::npos);
  }
  for (const char* left : {"work", "work.upper", "work.overlay"}) {
    CHECK_FALSE(fs::exists(run_dir / left));  // scratch thrown away
  }
  CHECK(read(run_dir / "snapshot" / "main.py") == original_script);
  CHECK_FALSE(fs::exists(run_dir / "snapshot" / "helpers" / "cache.txt"));

  TempDir dest;
  const auto downloaded = cli.run({"run", "download", run_id, "--path", "logs/x.log", "--dest",
                                   dest.path().string()});
  INFO(downloaded.err);
  REQUIRE(downloaded.exit_code == 0);

  const auto registered = cli.run({"register", "--run", run_id, "--name", "estimator-model",
                                   "--path", "outputs/model", "--framework", "custom"});
  INFO(registered.out << registered.err);
  CHECK(registered.exit_code == 0);
  const auto shown = cli.run({"model", "show", "estimator-model:1", "-o", "json"});
  CHECK_THAT(shown.out, Catch::Contains("model.pkl"));
}

TEST_CASE("e2e: a script that replaces ./outputs with its own folder loses nothing",
          "[e2e][cli][runs][workdir]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(R"(import os, shutil
os.remove('outputs')
os.makedirs('outputs/model')
with open('outputs/model/weights.txt', 'w') as f:
    f.write('w')
)");
  const std::string run_id = run_to_completion(cli, project);
  CHECK(run_files(cli, run_id).contains("outputs/model/weights.txt"));
}

TEST_CASE(
    "e2e: each rank of an MPI run of 2 nodes x 2 sees its own place on its node and that node's "
    "GPUs, and every rank's ./outputs file arrives",
    "[e2e][cli][runs][workdir][mpi][gpu]") {
  ServiceFixture service({"--host-gpus", "4"});
  const auto cli = CliEnvironment::for_service(service);
  const auto created = cli.run({"compute", "create", "gpus", "--type", "local", "--max-nodes", "2",
                                "--gpus-per-node", "2", "--wait"});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);

  Project project(R"(import json, os
from mpi4py import MPI
rank = MPI.COMM_WORLD.Get_rank()
local_rank = int(os.environ['OMPI_COMM_WORLD_LOCAL_RANK'])
local_size = int(os.environ['OMPI_COMM_WORLD_LOCAL_SIZE'])
devices = os.environ['CUDA_VISIBLE_DEVICES'].split(',')
assert len(devices) == local_size, (devices, local_size)
view = {
    'rank': rank,
    'size': MPI.COMM_WORLD.Get_size(),
    'local_rank': local_rank,
    'local_size': local_size,
    'node_rank': int(os.environ['TRAINCTL_NODE_RANK']),
    'trainctl_local_rank': int(os.environ['TRAINCTL_LOCAL_RANK']),
    'trainctl_local_size': int(os.environ['TRAINCTL_LOCAL_SIZE']),
    'visible': os.environ['CUDA_VISIBLE_DEVICES'],
    'device': devices[local_rank],
    'cwd': os.getcwd(),
}
os.makedirs('./outputs', exist_ok=True)
with open(f'./outputs/rank-{rank}.json', 'w') as f:
    json.dump(view, f)
)",
                  "  node_count: 2\n"
                  "  process_count_per_node: 2\n"
                  "  use_gpu: true\n"
                  "  distributed_training: {backend: mpi}\n"
                  "compute: gpus\n");
  const auto planned = cli.run({"validate", project.spec(), "-o", "json"}, project.dir());
  INFO(planned.out << planned.err);
  REQUIRE(planned.exit_code == 0);
  const auto plan = json::parse(planned.out)["launch_plan"];
  for (const auto& task : plan["tasks"]) {
    if (task["name"] != "rank-3") continue;
    std::map<std::string, std::string> env;
    for (const auto& pair : task["env"]) env[pair[0]] = pair[1];
    CHECK(env["OMPI_COMM_WORLD_LOCAL_RANK"] == "1");
    CHECK(env["OMPI_COMM_WORLD_LOCAL_SIZE"] == "2");
    CHECK(env["TRAINCTL_NODE_RANK"] == "1");
    CHECK(task["cwd"] == "<run>/work");
  }

  const std::string run_id = run_to_completion(cli, project);
  TempDir dest;
  const fs::path run_dir = service.home() / "runs" / run_id;
  const std::vector<std::string> expected_visible{"0,1", "0,1", "2,3", "2,3"};
  const std::vector<std::string> expected_device{"0", "1", "2", "3"};
  for (int rank = 0; rank < 4; ++rank) {
    INFO("rank " << rank);
    const auto view = downloaded_json(cli, run_id, dest.path() / "outputs",
                                      "rank-" + std::to_string(rank) + ".json");
    CHECK(view["size"] == 4);
    CHECK(view["local_rank"] == rank % 2);
    CHECK(view["local_size"] == 2);
    CHECK(view["trainctl_local_rank"] == rank % 2);
    CHECK(view["trainctl_local_size"] == 2);
    CHECK(view["node_rank"] == rank / 2);
    CHECK(view["visible"] == expected_visible[static_cast<size_t>(rank)]);
    CHECK(view["device"] == expected_device[static_cast<size_t>(rank)]);
    CHECK(view["cwd"] == (run_dir / "work").string());
  }
}

TEST_CASE(
    "e2e: every task of a parameter-server run writes into one shared ./outputs, and the run "
    "ends when the chief does",
    "[e2e][cli][runs][workdir][ps]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(R"(import json, os, time
task = os.environ['TRAINCTL_TASK']
config = json.loads(os.environ['TF_CONFIG'])
os.makedirs('./outputs', exist_ok=True)
with open(f'./outputs/{task}.json', 'w') as f:
    json.dump({'task': task, 'type': config['task']['type'], 'cwd': os.getcwd(),
               'local_rank': int(os.environ['TRAINCTL_LOCAL_RANK']),
               'local_size': int(os.environ['TRAINCTL_LOCAL_SIZE'])}, f)
with open('scratch.txt', 'w') as f:
    f.write(task)
if config['task']['type'] == 'chief':
    deadline = time.time() + 60
    while time.time() < deadline and len(os.listdir('./outputs')) < 4:
        time.sleep(0.05)
else:
    while True:  # ps and workers serve until they are stopped
        time.sleep(1)
)",
                  "  node_count: 2\n"
                  "  distributed_training:\n"
                  "    backend: parameter_server\n"
                  "    worker_count: 2\n"
                  "    parameter_server_count: 1\n");

  const std::string run_id = run_to_completion(cli, project);
  const auto files = run_files(cli, run_id);
  TempDir dest;
  const fs::path run_dir = service.home() / "runs" / run_id;
  // chief-0 and worker-0 are on node 0, ps-0 and worker-1 on node 1 (dealt in turn).
  const std::map<std::string, std::pair<int, int>> expected_local{
      {"chief-0", {0, 2}}, {"ps-0", {0, 2}}, {"worker-0", {1, 2}}, {"worker-1", {1, 2}}};
  for (const auto& [task, local] : expected_local) {
    INFO(task);
    CHECK(files.contains("outputs/" + task + ".json"));
    const auto view = downloaded_json(cli, run_id, dest.path() / "outputs", task + ".json");
    CHECK(view["cwd"] == (run_dir / "work").string());
    CHECK(view["local_rank"] == local.first);
    CHECK(view["local_size"] == local.second);
  }
  CHECK_FALSE(files.contains("scratch.txt"));
  CHECK_FALSE(fs::exists(run_dir / "work"));
}

// Issue item 17: a symbolic link already inside --dest (planted, say, by an archive unpacked
// there) is never written through; the download stops and names it.
TEST_CASE("e2e: run download refuses a symbolic link inside --dest and writes nothing through it",
          "[e2e][cli][runs][download]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(
      "import os\nos.makedirs('./outputs', exist_ok=True)\n"
      "open('./outputs/model.txt', 'w').write('weights')\n");
  const std::string run_id = run_to_completion(cli, project);

  TempDir dest;
  TempDir elsewhere;
  SECTION("a folder link") {
    fs::create_directory_symlink(elsewhere.path(), dest.path() / "outputs");
    const auto downloaded = cli.run({"run", "download", run_id, "--dest", dest.path().string()});
    CHECK(downloaded.exit_code != 0);
    CHECK_THAT(downloaded.err, Catch::Contains("outputs is a symbolic link"));
    CHECK_FALSE(fs::exists(elsewhere.path() / "model.txt"));
    CHECK_FALSE(fs::exists(elsewhere.path() / "model.txt.partial"));
  }
  SECTION("a file link") {
    fs::create_directories(dest.path() / "outputs");
    std::ofstream(elsewhere.path() / "target") << "keep me";
    fs::create_symlink(elsewhere.path() / "target", dest.path() / "outputs" / "model.txt");
    const auto downloaded = cli.run({"run", "download", run_id, "--dest", dest.path().string()});
    CHECK(downloaded.exit_code != 0);
    CHECK_THAT(downloaded.err, Catch::Contains("model.txt is a symbolic link"));
    CHECK(read(elsewhere.path() / "target") == "keep me");
    CHECK(fs::is_symlink(dest.path() / "outputs" / "model.txt"));
  }
}
