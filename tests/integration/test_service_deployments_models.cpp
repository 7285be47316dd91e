// Deployments of several models over a real trainctld (docs/deployments.md, Environment of a
// replica): where the entry script finds each model, and each model version kept while in use.
#include <catch2/catch.hpp>

#include "integration/test_service_deployment_helpers.hpp"

namespace trainctl::testing {

TEST_CASE("a deployment of two models finds each by its variable and keeps both versions",
          "[deployments]") {
  ServiceFixture service;
  REQUIRE(train_and_register(service, 2, "a", "digits") == 1);
  REQUIRE(train_and_register(service, 3, "b", "letters-v2") == 1);
  const auto snapshot = upload_snapshot(service, {{"score.py", deployment_file("multi_score.py")}});
  const auto created = put_deployment(
      service, "both",
      {{"models", {{{"name", "digits"}, {"version", 1}}, {{"name", "letters-v2"}, {"version", 1}}}},
       {"entry_script", "score.py"},
       {"snapshot_id", snapshot}});
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto deployment = wait_for_state(service, "both", "Healthy");
  INFO(deployment.dump());
  REQUIRE(deployment.value("state", "") == "Healthy");
  const std::string key = body_json(created).value("scoring_key", "");

  // Two runs make the models, so the checks run one after the other, not as sections.
  const auto reply = score(service, "both", key, "{}");
  INFO(reply.body);
  REQUIRE(reply.status == 200);
  const auto found = body_json(reply);
  const auto& env = found["env"];
  const std::string root = env.value("TRAINCTL_MODEL_ROOT", "");

  {
    INFO("each model's variable names its <root>/<name>/<version> directory, with its own files");
    CHECK(root == (service.home() / "services/default/both/rev-1/models").string());
    CHECK(env.value("TRAINCTL_MODEL_DIR_DIGITS", "") == root + "/digits/1");
    CHECK(env.value("TRAINCTL_MODEL_DIR_LETTERS_V2", "") == root + "/letters-v2/1");
    CHECK(found["weights"]["TRAINCTL_MODEL_DIR_DIGITS"]["version"] == "a");
    CHECK(found["weights"]["TRAINCTL_MODEL_DIR_LETTERS_V2"]["version"] == "b");
    CHECK(found["files"]["TRAINCTL_MODEL_DIR_DIGITS"] == nlohmann::json::array({"weights.json"}));
  }
  {
    INFO("with several models TRAINCTL_MODEL_DIR and AZUREML_MODEL_DIR are the root");
    CHECK(env.value("TRAINCTL_MODEL_DIR", "") == root);
    CHECK(env.value("AZUREML_MODEL_DIR", "") == root);
  }
  {
    INFO("trainctl_scoring.model_dir(name) gives each model's directory");
    CHECK(found["helper"] ==
          nlohmann::json{{"digits", root + "/digits/1"}, {"letters-v2", root + "/letters-v2/1"}});
  }
  {
    INFO("run() raising BadRequest is a 400 with its message");
    const auto refused = score(service, "both", key, R"({"refuse": "no such letter"})");
    CHECK(refused.status == 400);
    CHECK(body_json(refused)["error"]["message"] == "no such letter");
  }
  {
    INFO("neither model version can be deleted while the deployment uses it");
    for (const auto* model : {"digits", "letters-v2"}) {
      const auto refused = http_request(
          service, "DELETE", std::string("/v1/workspaces/default/models/") + model + "/versions/1");
      INFO(model << ": " << refused.body);
      CHECK(refused.status == 409);
      CHECK_THAT(body_json(refused)["error"].value("message", ""),
                 Catch::Contains("used by deployment both"));
    }
  }
  {
    INFO("updated to the first model alone");
    const auto updated = put_deployment(service, "both",
                                        {{"models", {{{"name", "digits"}, {"version", 1}}}},
                                         {"entry_script", "score.py"},
                                         {"snapshot_id", snapshot}});
    REQUIRE(updated.status == 200);
    const auto healthy = wait_for_state(service, "both", "Healthy");
    REQUIRE(healthy.value("revision", 0) == 2);
    INFO("the other version can be deleted, and TRAINCTL_MODEL_DIR is the one model's again");
    CHECK(http_request(service, "DELETE", "/v1/workspaces/default/models/letters-v2/versions/1")
              .status == 204);
    CHECK(
        http_request(service, "DELETE", "/v1/workspaces/default/models/digits/versions/1").status ==
        409);
    const auto single = body_json(score(service, "both", key, "{}"));
    const std::string single_root = single["env"].value("TRAINCTL_MODEL_ROOT", "");
    CHECK(single["env"].value("TRAINCTL_MODEL_DIR", "") == single_root + "/digits/1");
    CHECK(single["env"].value("AZUREML_MODEL_DIR", "") == single_root + "/digits/1");
  }
}

TEST_CASE("a deployment refuses a model twice, or two models whose variables would clash",
          "[deployments]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"score.py", deployment_file("multi_score.py")}});
  const auto put_models = [&](const nlohmann::json& models) {
    return put_deployment(
        service, "clash",
        {{"models", models}, {"entry_script", "score.py"}, {"snapshot_id", snapshot}});
  };
  const auto twice =
      put_models({{{"name", "digits"}, {"version", 1}}, {{"name", "digits"}, {"version", 2}}});
  const auto clash = put_models(
      {{{"name", "letters-v2"}, {"version", 1}}, {{"name", "letters_v2"}, {"version", 1}}});
  INFO(twice.body << "\n" << clash.body);
  CHECK(twice.status == 422);
  CHECK_THAT(body_json(twice)["error"]["details"][0].value("message", ""),
             Catch::Contains("model digits is in the deployment already"));
  CHECK(body_json(twice)["error"]["details"][0]["path"] == "models[1].name");
  CHECK(clash.status == 422);
  CHECK_THAT(body_json(clash)["error"]["details"][0].value("message", ""),
             Catch::Contains("letters-v2 and letters_v2 would share the variable "
                             "TRAINCTL_MODEL_DIR_LETTERS_V2"));
  CHECK(http_request(service, "GET", k_services + "clash").status == 404);
}

}  // namespace trainctl::testing
