// No-code deployments over a real trainctld (docs/deployments.md, No-code deployment): models
// trained by real runs, registered with their framework, deployed without an entry script and
// scored over HTTP, compared with what the model itself answers in Python.
#include <catch2/catch.hpp>

#include "integration/test_service_deployment_helpers.hpp"

namespace trainctl::testing {

namespace {

// The PUT body of a no-code deployment of `model`:`version`.
nlohmann::json no_code_body(const std::string& model, int64_t version) {
  return {{"models", {{{"name", model}, {"version", version}}}}};
}

// Creates a no-code deployment and waits until it is Healthy; returns the scoring key.
std::string deploy_no_code(const ServiceFixture& service, const std::string& name,
                           const std::string& model) {
  const auto created = put_deployment(service, name, no_code_body(model, 1));
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto deployment = wait_for_state(service, name, "Healthy");
  INFO(deployment.dump());
  REQUIRE(deployment.value("state", "") == "Healthy");
  return body_json(created).value("scoring_key", "");
}

// The error of a refused call: {"code", "message"}.
nlohmann::json error_of(const RawResponse& response) {
  return body_json(response).value("error", nlohmann::json::object());
}

void check_close(const nlohmann::json& actual, const nlohmann::json& expected) {
  INFO(actual.dump() << " vs " << expected.dump());
  REQUIRE(actual.size() == expected.size());
  for (size_t row = 0; row < expected.size(); ++row) {
    REQUIRE(actual[row].size() == expected[row].size());
    for (size_t column = 0; column < expected[row].size(); ++column) {
      CHECK(actual[row][column].get<double>() ==
            Approx(expected[row][column].get<double>()).margin(1e-9));
    }
  }
}

}  // namespace

TEST_CASE("a no-code deployment serves an sklearn model's predict and predict_proba",
          "[deployments][no-code]") {
  ServiceFixture service;
  const auto run = train(service, "train_sklearn.py");
  const auto expected = run_json_file(service, run, "outputs/expected.json");
  REQUIRE(expected.contains("rows"));
  const auto registered = register_model(service, run, "iris", "outputs/model", "sklearn");
  INFO(registered.body);
  REQUIRE(registered.status == 201);
  const std::string key = deploy_no_code(service, "iris-svc", "iris");

  const auto deployment = get_deployment(service, "iris-svc");
  CHECK(deployment["entry_script"].is_null());
  CHECK(deployment["snapshot_id"].is_null());
  CHECK(deployment["no_code"] ==
        nlohmann::json::parse(R"({"framework": "sklearn", "model_file": "model.pkl"})"));

  const nlohmann::json rows = expected["rows"];
  const auto predicted = score(service, "iris-svc", key, nlohmann::json{{"data", rows}}.dump());
  INFO(predicted.body);
  REQUIRE(predicted.status == 200);
  CHECK(body_json(predicted) == nlohmann::json{{"predictions", expected["predict"]}});

  const auto probabilities = score(
      service, "iris-svc", key, nlohmann::json{{"data", rows}, {"method", "predict_proba"}}.dump());
  INFO(probabilities.body);
  REQUIRE(probabilities.status == 200);
  check_close(body_json(probabilities)["predictions"], expected["predict_proba"]);
  CHECK(body_json(probabilities)["classes"] == expected["classes"]);

  // Requests the client must fix: a 400 saying what is wrong; the replica serves on.
  const std::vector<std::pair<std::string, std::string>> bad{
      {R"({"rows": [[1, 2, 3, 4]]})", "unknown field \"rows\""},
      {R"({"method": "predict"})", "the body has no \"data\""},
      {R"({"data": []})", "\"data\" must be a non-empty list of rows"},
      {R"({"data": [1, 2, 3, 4]})", "\"data\"[0] is 1, not a row"},
      {R"({"data": [[5.1, 3.5, 1.4]]})", "\"data\"[0] has 3 values; the model takes 4 features"},
      {R"({"data": [[5.1, 3.5, 1.4, 0.2], [1, "x", 2, 3]]})",
       "\"data\"[1][1] is \"x\", not a number"},
      {R"({"data": [[5.1, 3.5, true, 0.2]]})", "\"data\"[0][2] is true, not a number"},
      {R"({"data": [[5.1, 3.5, 1.4, 0.2]], "method": "fit"})", "\"method\" must be \"predict\""},
      {R"([[5.1, 3.5, 1.4, 0.2]])", "the body must be a JSON object"}};
  for (const auto& [body, message] : bad) {
    const auto refused = score(service, "iris-svc", key, body);
    INFO(body << " -> " << refused.body);
    CHECK(refused.status == 400);
    CHECK(error_of(refused)["code"] == "invalid_argument");
    CHECK_THAT(error_of(refused).value("message", ""), Catch::Contains(message));
  }
  CHECK(score(service, "iris-svc", key, nlohmann::json{{"data", rows}}.dump()).status == 200);
  const auto logs = read_logs(service, "iris-svc");
  CHECK_THAT(logs, Catch::Contains("serving model.pkl (sklearn, LogisticRegression)") &&
                       Catch::Contains("answered 400: \"data\"[0] has 3 values"));
  CHECK_THAT(logs, !Catch::Contains("Traceback"));

  {
    INFO(
        "a pickle that is no model passes the checks at create, and fails the deployment when "
        "its replica loads it");
    REQUIRE(register_model(service, run, "weights", "outputs/weights", "sklearn").status == 201);
    REQUIRE(put_deployment(service, "weights-svc", no_code_body("weights", 1)).status == 201);
    const auto failed = wait_for_state(service, "weights-svc", "Failed");
    CHECK_THAT(failed.value("message", ""),
               Catch::Contains("TypeError: model.pkl holds a dict, not a model with predict()"));
  }

  WHEN("trainctld restarts") {
    service.stop();
    service.start();
    const auto after = wait_for_state(service, "iris-svc", "Healthy");
    THEN("the no-code deployment comes back and answers the same") {
      INFO(after.dump());
      CHECK(after.value("state", "") == "Healthy");
      const auto again = score(service, "iris-svc", key, nlohmann::json{{"data", rows}}.dump());
      CHECK(body_json(again) == nlohmann::json{{"predictions", expected["predict"]}});
    }
  }
}

TEST_CASE("a no-code deployment serves a TorchScript model and refuses a bare state dict",
          "[deployments][no-code]") {
  ServiceFixture service;
  const auto run = train(service, "train_torch.py");
  const auto expected = run_json_file(service, run, "outputs/expected.json");
  REQUIRE(expected.contains("rows"));
  REQUIRE(register_model(service, run, "net", "outputs/model", "pytorch").status == 201);
  REQUIRE(register_model(service, run, "weights", "outputs/state", "pytorch").status == 201);

  // One run makes both models, so the cases run one after the other, not as sections.
  {
    INFO(
        "the state dict deployed without an entry script is refused, saying to save "
        "TorchScript, and nothing is created");
    const auto refused = put_deployment(service, "weights-svc", no_code_body("weights", 1));
    INFO(refused.body);
    CHECK(refused.status == 400);
    CHECK_THAT(error_of(refused).value("message", ""),
               Catch::Contains("weights.pth is not TorchScript") &&
                   Catch::Contains("torch.jit.script(model).save") &&
                   Catch::Contains("--entry-script"));
    CHECK(http_request(service, "GET", k_services + "weights-svc").status == 404);
    CHECK_FALSE(std::filesystem::exists(service.home() / "services/default/weights-svc"));
  }
  {
    INFO(
        "the TorchScript model deployed without an entry script answers what the module "
        "answers, and a wrong shape is the client's error");
    const std::string key = deploy_no_code(service, "net-svc", "net");
    CHECK(get_deployment(service, "net-svc")["no_code"] ==
          nlohmann::json::parse(R"({"framework": "pytorch", "model_file": "model.pt"})"));
    const auto predicted =
        score(service, "net-svc", key, nlohmann::json{{"data", expected["rows"]}}.dump());
    INFO(predicted.body);
    REQUIRE(predicted.status == 200);
    check_close(body_json(predicted)["predictions"], expected["predict"]);

    const auto narrow = score(service, "net-svc", key, R"({"data": [[1, 2]]})");
    CHECK(narrow.status == 400);
    CHECK_THAT(error_of(narrow).value("message", ""),
               Catch::Contains("the model refused an input of shape [1, 2]"));
    const auto ragged = score(service, "net-svc", key, R"({"data": [[1, 2, 3], [1]]})");
    CHECK(ragged.status == 400);
    CHECK_THAT(error_of(ragged).value("message", ""), Catch::Contains("rectangular"));
  }
}

TEST_CASE(
    "a no-code deployment the built-in script cannot serve is refused before anything "
    "is created",
    "[deployments][no-code]") {
  ServiceFixture service;
  const auto run = train(service, "train.py", {"2", "a"});  // outputs/model/weights.json
  REQUIRE(register_model(service, run, "custom", "outputs/model", "custom").status == 201);
  REQUIRE(register_model(service, run, "unpickled", "outputs/model", "sklearn").status == 201);

  const auto refused_with = [&](const nlohmann::json& body) {
    const auto refused = put_deployment(service, "svc", body);
    INFO(refused.body);
    CHECK(http_request(service, "GET", k_services + "svc").status == 404);
    return refused;
  };
  // One run makes every model, so the cases run one after the other, not as sections.
  {
    INFO("a framework it does not serve is a 400 that says to give an entry script");
    const auto refused = refused_with(no_code_body("custom", 1));
    CHECK(refused.status == 400);
    CHECK_THAT(error_of(refused).value("message", ""),
               Catch::Contains("model custom:1 is registered with framework custom") &&
                   Catch::Contains("--entry-script"));
  }
  {
    INFO("an sklearn model without a pickle is a 400 naming the files it looks for");
    const auto refused = refused_with(no_code_body("unpickled", 1));
    CHECK(refused.status == 400);
    CHECK_THAT(error_of(refused).value("message", ""),
               Catch::Contains("model unpickled:1 (sklearn) has no .pkl, .pickle or .joblib file"));
  }
  {
    INFO("two models without an entry script are a 400");
    const auto refused = refused_with(
        {{"models",
          {{{"name", "custom"}, {"version", 1}}, {{"name", "unpickled"}, {"version", 1}}}}});
    CHECK(refused.status == 400);
    CHECK_THAT(error_of(refused).value("message", ""),
               Catch::Contains("serves exactly one model, and this one has 2 (custom:1, "
                               "unpickled:1)"));
  }
  {
    INFO("an entry script without a snapshot, or a snapshot without one, is a 422");
    const auto snapshot = upload_snapshot(service, {{"score.py", deployment_file("score.py")}});
    auto script_only = no_code_body("custom", 1);
    script_only["entry_script"] = "score.py";
    auto snapshot_only = no_code_body("custom", 1);
    snapshot_only["snapshot_id"] = snapshot;
    for (const auto* body : {&script_only, &snapshot_only}) {
      const auto refused = refused_with(*body);
      CHECK(refused.status == 422);
      CHECK_THAT(error_of(refused).value("message", ""),
                 Catch::Contains("entry_script and snapshot_id go together"));
    }
  }
}

}  // namespace trainctl::testing
