// `trainctl deploy ...` through the real binaries against a real trainctld: the chain of
// configs/examples/digits-service (train -> register -> deploy -> invoke) and the errors a user
// can act on. Needs numpy and scikit-learn for /usr/bin/python3 (scripts/install-deps.sh).
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;
using nlohmann::json;

constexpr int k_images = 20;
constexpr int k_training_seconds = 300;

fs::path example_dir(const std::string& example) {
  return fs::path(TRAINCTL_SOURCE_DIR) / "configs/examples" / example;
}

// `trainctl ... -o json`, parsed; the command must exit 0.
json run_json(const CliEnvironment& cli, std::vector<std::string> args, int timeout = 120) {
  args.insert(args.end(), {"-o", "json"});
  const auto result = cli.run(args, {}, timeout);
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  return json::parse(result.out, nullptr, false);
}

// request.py's output for the last k_images digits: the request, or their true labels.
std::string digits_request(bool labels) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                (example_dir("digits-service") / "request.py").string(),
                                "--count", std::to_string(k_images)};
  if (labels) argv.push_back("--labels");
  const auto result = run_command(argv);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

// Trains configs/examples/digits and registers its outputs/model as model `digits`.
void train_and_register(const CliEnvironment& cli) {
  const auto spec = (example_dir("digits") / "job.yaml").string();
  const auto run = run_json(cli, {"submit", spec});
  const auto run_id = run.value("id", "");
  REQUIRE_FALSE(run_id.empty());
  const auto waited = cli.run({"run", "wait", run_id}, {}, k_training_seconds);
  INFO(waited.out << waited.err);
  REQUIRE(waited.exit_code == 0);
  const auto registered = cli.run(
      {"register", "--run", run_id, "--name", "digits", "--path", "outputs/model"});
  INFO(registered.out << registered.err);
  REQUIRE(registered.exit_code == 0);
}

int count_equal(const json& predictions, const json& labels) {
  int equal = 0;
  for (size_t i = 0; i < labels.size() && i < predictions.size(); ++i) {
    equal += predictions[i] == labels[i] ? 1 : 0;
  }
  return equal;
}

}  // namespace

TEST_CASE("e2e: a digits model trained, registered and deployed predicts real digits",
          "[e2e][cli][deploy]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  train_and_register(cli);

  WHEN("the user deploys score.py with the model on 2 replicas and waits") {
    const auto created = cli.run({"deploy", "create", "digits", "--model", "digits:1",
                                  "--entry-script", "score.py", "--source-dir",
                                  example_dir("digits-service").string(), "--replicas", "2",
                                  "--wait"},
                                 {}, 180);
    INFO(created.out << created.err);
    REQUIRE(created.exit_code == 0);
    THEN("it says it was created, shows the scoring key once, and is Healthy") {
      CHECK_THAT(created.out, Catch::Contains("created deployment digits") &&
                                  Catch::Contains("scoring key: ") &&
                                  Catch::Contains("digits is Healthy (2/2 replicas ready)"));
      const auto shown = run_json(cli, {"deploy", "show", "digits"});
      CHECK(shown.value("state", "") == "Healthy");
      CHECK(shown.value("models", json()) == json::parse(R"([{"name":"digits","version":1}])"));
      CHECK_THAT(cli.run({"deploy", "list"}).out, Catch::Contains("digits") &&
                                                      Catch::Contains("Healthy") &&
                                                      Catch::Contains("digits:1"));
    }
    AND_WHEN("it invokes the deployment with real digits from a file") {
      const TempDir dir;
      const auto request = dir.path() / "request.json";
      std::ofstream(request) << digits_request(false);
      const auto scored =
          run_json(cli, {"deploy", "invoke", "digits", "--data", "@" + request.string()});
      THEN("most predictions are the true digits") {
        const auto labels = json::parse(digits_request(true));
        REQUIRE(labels.size() == k_images);
        INFO(scored.dump());
        CHECK(count_equal(scored.value("predictions", json::array()), labels) >= k_images - 2);
      }
    }
    AND_WHEN("it sends data that run() refuses") {
      const auto refused = cli.run({"deploy", "invoke", "digits", "--data", R"({"data": [[1, 2]]})"});
      THEN("the command fails with run()'s message, and the next request is scored") {
        CHECK(refused.exit_code == 1);
        CHECK_THAT(refused.err, Catch::Contains("expected a list of 64-value images"));
        const auto scored = cli.run({"deploy", "invoke", "digits", "--data",
                                     R"({"data": [[0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, )"
                                     R"(5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0, )"
                                     R"(0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, )"
                                     R"(14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]]})"});
        INFO(scored.err);
        CHECK(scored.exit_code == 0);
        CHECK_THAT(scored.out, Catch::Contains("\"predictions\": [\n    0\n  ]"));
      }
    }
    AND_WHEN("it reads the replicas' logs") {
      const auto logs = cli.run({"deploy", "logs", "digits"});
      const auto replica1 = cli.run({"deploy", "logs", "digits", "--replica", "1"});
      THEN("both replicas' lines are there, prefixed when merged, and one replica's alone") {
        CHECK(logs.exit_code == 0);
        CHECK_THAT(logs.out, Catch::Contains("[replica-0] loaded ") &&
                                 Catch::Contains("[replica-1] loaded "));
        CHECK(replica1.exit_code == 0);
        CHECK_THAT(replica1.out, Catch::StartsWith("loaded ") && Catch::Contains("model.pkl"));
      }
    }
    AND_WHEN("it scales the deployment down to 1 replica and waits") {
      const auto updated =
          cli.run({"deploy", "update", "digits", "--replicas", "1", "--wait"}, {}, 180);
      THEN("it is updated, Healthy on 1 replica with the same model, and still scores") {
        INFO(updated.out << updated.err);
        CHECK(updated.exit_code == 0);
        CHECK_THAT(updated.out, Catch::Contains("updated deployment digits (revision 2)"));
        const auto shown = run_json(cli, {"deploy", "show", "digits"});
        CHECK(shown.value("replicas", 0) == 1);
        CHECK(shown.value("models", json()) == json::parse(R"([{"name":"digits","version":1}])"));
        const TempDir dir;
        std::ofstream(dir.path() / "request.json") << digits_request(false);
        const auto scored = run_json(
            cli, {"deploy", "invoke", "digits", "--data", "@" + (dir.path() / "request.json").string()});
        CHECK(scored.value("predictions", json::array()).size() == k_images);
      }
    }
    AND_WHEN("it regenerates the scoring key") {
      const auto old_key = run_json(cli, {"deploy", "show", "digits", "--show-key"})
                               .value("scoring_key", "");
      REQUIRE_FALSE(old_key.empty());
      const auto regenerated = cli.run({"deploy", "regenerate-key", "digits"});
      INFO(regenerated.out << regenerated.err);
      REQUIRE(regenerated.exit_code == 0);
      const std::string prefix = "new scoring key of deployment digits: ";
      REQUIRE_THAT(regenerated.out, Catch::StartsWith(prefix));
      const auto new_key = regenerated.out.substr(prefix.size(), regenerated.out.find('\n') -
                                                                     prefix.size());
      THEN("the new key is the deployment's, it scores, and the old key is refused") {
        CHECK_FALSE(new_key.empty());
        CHECK(new_key != old_key);
        CHECK_THAT(regenerated.err, Catch::Contains("the old key no longer works"));
        CHECK(run_json(cli, {"deploy", "show", "digits", "--show-key"}).value("scoring_key", "") ==
              new_key);
        const std::string score_path = "/v1/workspaces/default/services/digits/score";
        const auto request = digits_request(false);
        CHECK(http_request(service, "POST", score_path, request,
                           {{"Authorization", "Bearer " + old_key}}, false)
                  .status == 401);
        CHECK(http_request(service, "POST", score_path, request,
                           {{"Authorization", "Bearer " + new_key}}, false)
                  .status == 200);
        const auto again = run_json(cli, {"deploy", "regenerate-key", "digits"});
        CHECK(again.value("name", "") == "digits");
        CHECK_FALSE(again.value("scoring_key", "").empty());
        CHECK(again.value("scoring_key", "") != new_key);
      }
    }
    AND_WHEN("another deployment's init() raises") {
      const TempDir broken;
      std::ofstream(broken.path() / "score.py")
          << "def init():\n    raise RuntimeError('no GPU here')\n\ndef run(data):\n    return 0\n";
      const auto failed = cli.run({"deploy", "create", "broken", "--model", "digits@latest",
                                   "--entry-script", "score.py", "--source-dir",
                                   broken.path().string(), "--wait"},
                                  {}, 180);
      THEN("--wait ends with exit 3, the reason, and where to read the traceback") {
        INFO(failed.out << failed.err);
        CHECK(failed.exit_code == 3);
        CHECK_THAT(failed.err, Catch::Contains("deployment broken is Failed") &&
                                   Catch::Contains("no GPU here") &&
                                   Catch::Contains("trainctl deploy logs broken"));
        CHECK_THAT(cli.run({"deploy", "logs", "broken"}).out, Catch::Contains("Traceback"));
      }
    }
    AND_WHEN("it deletes the deployment") {
      const auto deleted = cli.run({"deploy", "delete", "digits", "--yes"});
      THEN("it is gone") {
        CHECK(deleted.exit_code == 0);
        CHECK(cli.run({"deploy", "show", "digits"}).exit_code == 7);
      }
    }
  }
}

TEST_CASE("e2e: deploy refuses what the user can fix, with exit codes from the table",
          "[e2e][cli][deploy]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const TempDir source;
  std::ofstream(source.path() / "other.py") << "def run(data):\n    return data\n";

  WHEN("the entry script is not in the source directory") {
    const auto created = cli.run({"deploy", "create", "svc", "--model", "digits:1",
                                  "--entry-script", "score.py", "--source-dir",
                                  source.path().string()});
    THEN("nothing is deployed and the error names the script and the directory") {
      CHECK(created.exit_code == 2);
      CHECK_THAT(created.err, Catch::Contains("--entry-script score.py is not a file in") &&
                                  Catch::Contains(source.path().string()));
      CHECK(cli.run({"deploy", "show", "svc"}).exit_code == 7);
    }
  }
  WHEN("the model is not registered") {
    const auto created = cli.run({"deploy", "create", "svc", "--model", "nosuch:3",
                                  "--entry-script", "other.py", "--source-dir",
                                  source.path().string()});
    THEN("the service's not-found error is shown, exit 7") {
      CHECK(created.exit_code == 7);
      CHECK_THAT(created.err, Catch::Contains("nosuch"));
    }
  }
  WHEN("a model reference or an option does not parse") {
    const auto bad_model = cli.run({"deploy", "create", "svc", "--model", "digits:0",
                                    "--entry-script", "other.py"});
    const auto bad_replicas = cli.run({"deploy", "create", "svc", "--model", "digits",
                                       "--entry-script", "other.py", "--replicas", "0"});
    const auto bad_env = cli.run({"deploy", "create", "svc", "--model", "digits",
                                  "--entry-script", "other.py", "--env", "1X=2"});
    THEN("each is a usage error naming the flag") {
      CHECK(bad_model.exit_code == 2);
      CHECK_THAT(bad_model.err, Catch::Contains("--model digits:0"));
      CHECK(bad_replicas.exit_code == 2);
      CHECK_THAT(bad_replicas.err, Catch::Contains("--replicas 0"));
      CHECK(bad_env.exit_code == 2);
      CHECK_THAT(bad_env.err, Catch::Contains("--env 1X=2"));
    }
  }
  WHEN("regenerate-key names no deployment, or a name that is not one") {
    const auto unknown = cli.run({"deploy", "regenerate-key", "svc"});
    const auto bad_name = cli.run({"deploy", "regenerate-key", "../svc"});
    THEN("an unknown deployment is exit 7 and a bad name a usage error") {
      CHECK(unknown.exit_code == 7);
      CHECK(bad_name.exit_code == 2);
    }
  }
  WHEN("invoke gets data that is not JSON, or names no deployment") {
    const auto bad_json = cli.run({"deploy", "invoke", "svc", "--data", "{not json"});
    const auto unknown = cli.run({"deploy", "invoke", "svc", "--data", "{}"});
    THEN("bad JSON is a usage error and an unknown deployment exit 7") {
      CHECK(bad_json.exit_code == 2);
      CHECK_THAT(bad_json.err, Catch::Contains("--data is not valid JSON"));
      CHECK(unknown.exit_code == 7);
    }
  }
}

namespace {

std::string deployment_data_file(const std::string& name) {
  std::ifstream in(fs::path(TRAINCTL_SOURCE_DIR) / "tests/data/deployments" / name);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Submits tests/data/deployments/train_sklearn.py as a run (an iris LogisticRegression saved to
// outputs/model/model.pkl, and outputs/expected.json with its own answers) and waits for it;
// returns the run's id.
std::string train_iris(const CliEnvironment& cli, const Project& project) {
  const auto run_id = run_json(cli, {"submit", project.spec()}).value("id", "");
  REQUIRE_FALSE(run_id.empty());
  const auto waited = cli.run({"run", "wait", run_id}, {}, k_training_seconds);
  INFO(waited.out << waited.err);
  REQUIRE(waited.exit_code == 0);
  return run_id;
}

void register_iris(const CliEnvironment& cli, const std::string& run_id, const std::string& name,
                   const std::string& framework) {
  const auto registered = cli.run({"register", "--run", run_id, "--name", name, "--path",
                                   "outputs/model", "--framework", framework});
  INFO(registered.out << registered.err);
  REQUIRE(registered.exit_code == 0);
}

}  // namespace

TEST_CASE("e2e: a no-code sklearn deployment scores rows as the model's own predict does",
          "[e2e][cli][deploy]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const Project project(deployment_data_file("train_sklearn.py"));
  const auto run_id = train_iris(cli, project);
  register_iris(cli, run_id, "iris", "sklearn");
  const auto expected = json::parse(
      http_request(service, "GET",
                   "/v1/workspaces/default/runs/" + run_id + "/files/outputs/expected.json")
          .body);
  REQUIRE(expected.contains("rows"));

  const auto created =
      cli.run({"deploy", "create", "iris", "--model", "iris:1", "--wait"}, {}, 180);
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  CHECK_THAT(created.out, Catch::Contains("created deployment iris") &&
                              Catch::Contains("iris is Healthy (1/1 replicas ready)"));
  CHECK_THAT(cli.run({"deploy", "show", "iris"}).out,
             Catch::Contains("Entry script: none: the built-in scoring script serves model.pkl "
                             "(sklearn)"));

  const TempDir dir;
  std::ofstream(dir.path() / "rows.json") << json{{"data", expected["rows"]}}.dump();
  const auto predicted = run_json(
      cli, {"deploy", "invoke", "iris", "--data", "@" + (dir.path() / "rows.json").string()});
  CHECK(predicted == json{{"predictions", expected["predict"]}});

  std::ofstream(dir.path() / "proba.json")
      << json{{"data", expected["rows"]}, {"method", "predict_proba"}}.dump();
  const auto probabilities = run_json(
      cli, {"deploy", "invoke", "iris", "--data", "@" + (dir.path() / "proba.json").string()});
  CHECK(probabilities["classes"] == expected["classes"]);
  const auto& rows = probabilities["predictions"];
  REQUIRE(rows.size() == expected["predict_proba"].size());
  for (size_t row = 0; row < rows.size(); ++row) {
    for (size_t column = 0; column < rows[row].size(); ++column) {
      CHECK(rows[row][column].get<double>() ==
            Approx(expected["predict_proba"][row][column].get<double>()).margin(1e-9));
    }
  }

  const auto narrow =
      cli.run({"deploy", "invoke", "iris", "--data", R"({"data": [[5.1, 3.5, 1.4]]})"});
  CHECK(narrow.exit_code == 2);
  CHECK_THAT(narrow.err, Catch::Contains("\"data\"[0] has 3 values; the model takes 4 features"));
  const auto no_data = cli.run({"deploy", "invoke", "iris", "--data", R"({"rows": []})"});
  CHECK(no_data.exit_code == 2);
  CHECK_THAT(no_data.err, Catch::Contains("unknown field \"rows\""));

  // The same files registered as a PyTorch model: no .pt file, so nothing to serve.
  register_iris(cli, run_id, "iris-torch", "pytorch");
  const auto unservable =
      cli.run({"deploy", "create", "torch", "--model", "iris-torch:1", "--wait"});
  CHECK(unservable.exit_code == 2);
  CHECK_THAT(unservable.err,
             Catch::Contains("model iris-torch:1 (pytorch) has no .pt or .pth file") &&
                 Catch::Contains("--entry-script"));
  CHECK(cli.run({"deploy", "show", "torch"}).exit_code == 7);
  const auto source_only = cli.run(
      {"deploy", "create", "src", "--model", "iris:1", "--source-dir", dir.path().string()});
  CHECK(source_only.exit_code == 2);
  CHECK_THAT(source_only.err, Catch::Contains("--source-dir needs --entry-script"));
}

TEST_CASE("e2e: a deployment of two models reads both, and neither version can be deleted",
          "[e2e][cli][deploy]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const Project project(deployment_data_file("train_sklearn.py"));
  const auto run_id = train_iris(cli, project);
  register_iris(cli, run_id, "iris", "sklearn");
  register_iris(cli, run_id, "flowers", "custom");
  const TempDir source;
  std::ofstream(source.path() / "score.py") << deployment_data_file("multi_score.py");

  const auto created =
      cli.run({"deploy", "create", "both", "--model", "iris:1", "--model", "flowers",
               "--entry-script", "score.py", "--source-dir", source.path().string(), "--wait"},
              {}, 180);
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  CHECK_THAT(cli.run({"deploy", "list"}).out, Catch::Contains("iris:1, flowers:1"));

  const auto found = run_json(cli, {"deploy", "invoke", "both", "--data", "{}"});
  INFO(found.dump());
  const std::string root = found["env"].value("TRAINCTL_MODEL_ROOT", "");
  CHECK(found["env"].value("TRAINCTL_MODEL_DIR_IRIS", "") == root + "/iris/1");
  CHECK(found["env"].value("TRAINCTL_MODEL_DIR_FLOWERS", "") == root + "/flowers/1");
  CHECK(found["env"].value("AZUREML_MODEL_DIR", "") == root);
  CHECK(found["files"]["TRAINCTL_MODEL_DIR_IRIS"] == json::array({"model.pkl"}));
  CHECK(found["files"]["TRAINCTL_MODEL_DIR_FLOWERS"] == json::array({"model.pkl"}));

  for (const auto* model : {"iris:1", "flowers:1"}) {
    const auto deleted = cli.run({"model", "delete", model, "--yes"});
    INFO(model);
    CHECK(deleted.exit_code == 9);
    CHECK_THAT(deleted.err, Catch::Contains("used by deployment both"));
  }
  REQUIRE(cli.run({"deploy", "delete", "both", "--yes"}).exit_code == 0);
  CHECK(cli.run({"model", "delete", "flowers:1", "--yes"}).exit_code == 0);
}
