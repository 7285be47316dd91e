// The deploy commands (src/cli/commands/deploy.cpp): usage checks, model references, the body an
// update sends back, and the commands over the scripted FakeTransport.
#include <catch2/catch.hpp>

#include <sstream>

#include "fakes/fake_transport.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/cli/commands/deploy.hpp"

namespace {

using namespace trainctl;
using namespace trainctl::cli;
using nlohmann::json;

DeployCreateOptions create_options() {
  DeployCreateOptions options;
  options.name = "digits";
  options.fields.models = {"digits:3"};
  options.fields.entry_script = "score.py";
  return options;
}

ErrorCode code_of(const Result<void>& result) {
  REQUIRE_FALSE(result);
  return result.error().code;
}

const std::string k_digits = "/v1/workspaces/default/services/digits";

// What GET services/digits answers (services.cpp, deployment_json): every field of the PUT body
// and the ones the service computes.
json deployment_resource() {
  return {{"name", "digits"},
          {"state", "Healthy"},
          {"message", ""},
          {"models", {{{"name", "digits"}, {"version", 1}}}},
          {"entry_script", "score.py"},
          {"snapshot_id", std::string(64, 'a')},
          {"replicas", 2},
          {"replica_status", json::array()},
          {"cpu", 0.5},
          {"memory_gb", 1},
          {"environment_variables", {{"MODE", "fast"}, {"SEED", "1"}}},
          {"description", "digits classifier"},
          {"tags", {{"team", "vision"}}},
          {"scoring_path", "/v1/workspaces/default/services/digits/score"},
          {"revision", 3},
          {"created_at", "2026-11-21T10:00:00Z"},
          {"updated_at", "2026-11-21T10:00:00Z"}};
}

// A session over a FakeTransport, printing into strings.
struct DeploySession {
  trainctl::testing::TempDir home;
  trainctl::testing::FakeTransport transport;
  std::ostringstream out;
  std::ostringstream err;
  Printer printer{out, err};
  Session session{config(home), printer,
                  [this](const config::Config&, Printer&)
                      -> Result<std::unique_ptr<client::ApiClient>> {
                    return std::make_unique<client::ApiClient>(transport.share(), "t");
                  }};

  static config::Config config(const trainctl::testing::TempDir& dir) {
    config::Config out;
    out.workspace = "default";
    out.cache_dir = dir.path() / "cache";
    return out;
  }
};

}  // namespace

TEST_CASE("deploy --model references become the models of the PUT body", "[unit][cli][deploy]") {
  GIVEN("a number, @latest and a bare name") {
    const auto models = models_of({"digits:3", "text@latest", "other"});
    THEN("numbers stay numbers and the others ask for the latest version") {
      REQUIRE(models);
      CHECK(*models == json::parse(R"([{"name": "digits", "version": 3},
                                       {"name": "text", "version": "latest"},
                                       {"name": "other", "version": "latest"}])"));
    }
  }
  GIVEN("references that do not parse") {
    for (const auto* text : {"digits:0", "digits:", "digits:latest", "../x", "digits@3"}) {
      INFO(text);
      const auto models = models_of({text});
      REQUIRE_FALSE(models);
      CHECK(models.error().code == ErrorCode::usage);
      CHECK_THAT(models.error().message, Catch::Contains(std::string("--model ") + text));
    }
  }
}

TEST_CASE("deploy create checks its options before anything is sent", "[unit][cli][deploy]") {
  auto options = create_options();
  WHEN("the options are complete") {
    THEN("they pass") { CHECK(validate(options)); }
  }
  WHEN("no model is given") {
    auto no_model = options;
    no_model.fields.models.clear();
    THEN("it is a usage error") {
      CHECK(code_of(validate(no_model)) == ErrorCode::usage);
    }
  }
  WHEN("no entry script is given") {
    auto no_code = options;
    no_code.fields.entry_script.clear();
    auto source_only = no_code;
    source_only.fields.source_dir = "serve";
    THEN("it is a no-code deployment, but a source directory alone is a usage error") {
      CHECK(validate(no_code));
      const auto refused = validate(source_only);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == ErrorCode::usage);
      CHECK_THAT(refused.error().message, Catch::Contains("--source-dir needs --entry-script"));
    }
  }
  WHEN("a value is out of range") {
    auto replicas = options;
    replicas.fields.replicas = 0;
    auto cpu = options;
    cpu.fields.cpu = 0.0;
    auto memory = options;
    memory.fields.memory_gb = -1.0;
    auto env = options;
    env.fields.env = {"GOOD=1", "not a name=2"};
    auto timeout = options;
    timeout.fields.timeout = "5m";  // without --wait
    auto name = options;
    name.name = "../digits";
    THEN("each is a usage error") {
      for (const auto* bad : {&replicas, &cpu, &memory, &env, &timeout, &name}) {
        CHECK(code_of(validate(*bad)) == ErrorCode::usage);
      }
    }
  }
}

TEST_CASE("deploy update needs something to change", "[unit][cli][deploy]") {
  DeployUpdateOptions options;
  options.name = "digits";
  WHEN("no field is given") {
    THEN("it is a usage error listing what can change") {
      const auto valid = validate(options);
      REQUIRE_FALSE(valid);
      CHECK_THAT(valid.error().message, Catch::Contains("nothing to update"));
    }
  }
  WHEN("only the replica count changes") {
    options.fields.replicas = 4;
    THEN("it passes") { CHECK(validate(options)); }
  }
}

TEST_CASE("deploy invoke takes JSON inline or from a file", "[unit][cli][deploy]") {
  DeployInvokeOptions options{.name = "digits", .data = {}};
  WHEN("no data is given") {
    THEN("it is a usage error") { CHECK(code_of(validate(options)) == ErrorCode::usage); }
  }
  WHEN("inline data is not JSON") {
    options.data = "{\"data\": [1,";
    THEN("it is a usage error before anything is sent") {
      CHECK(code_of(validate(options)) == ErrorCode::usage);
    }
  }
  WHEN("the data is JSON or a file") {
    THEN("it passes (a file is read when the command runs)") {
      options.data = R"({"data": [[0, 1]]})";
      CHECK(validate(options));
      options.data = "@request.json";
      CHECK(validate(options));
    }
  }
}

TEST_CASE("deploy update sends back every field of the deployment it does not change",
          "[unit][cli][deploy]") {
  DeploymentFields fields;
  fields.replicas = 1;
  GIVEN("the deployment as the service's GET shows it") {
    const auto current = deployment_resource();
    const auto body = update_body("digits", current, fields);
    THEN("the body holds exactly the PUT's fields, environment variables and tags included") {
      REQUIRE(body);
      CHECK(*body == json{{"models", current["models"]},
                          {"entry_script", "score.py"},
                          {"snapshot_id", current["snapshot_id"]},
                          {"replicas", 2},
                          {"cpu", 0.5},
                          {"memory_gb", 1},
                          {"environment_variables", {{"MODE", "fast"}, {"SEED", "1"}}},
                          {"description", "digits classifier"},
                          {"tags", {{"team", "vision"}}}});
    }
  }
  GIVEN("a no-code deployment, whose entry script and snapshot are null") {
    auto current = deployment_resource();
    current["entry_script"] = nullptr;
    current["snapshot_id"] = nullptr;
    current["no_code"] = {{"framework", "sklearn"}, {"model_file", "model.pkl"}};
    const auto body = update_body("digits", current, fields);
    THEN("they are sent back null, so it stays no-code, and what it serves is not sent") {
      REQUIRE(body);
      CHECK((*body)["entry_script"].is_null());
      CHECK((*body)["snapshot_id"].is_null());
      CHECK_FALSE(body->contains("no_code"));
    }
  }
  GIVEN("a GET without the environment variables, or with them null") {
    auto missing = deployment_resource();
    missing.erase("environment_variables");
    auto null = deployment_resource();
    null["environment_variables"] = nullptr;
    THEN("the update is refused rather than clearing them, even when --env adds one") {
      for (const auto* current : {&missing, &null}) {
        auto with_env = fields;
        with_env.env = {"EXTRA=1"};
        for (const auto* given : {&fields, &with_env}) {
          const auto body = update_body("digits", *current, *given);
          REQUIRE_FALSE(body);
          CHECK(body.error().code == ErrorCode::internal);
          CHECK_THAT(body.error().message, Catch::Contains("environment_variables") &&
                                               Catch::Contains("deployment digits") &&
                                               Catch::Contains("nothing was changed"));
        }
      }
    }
  }
  GIVEN("a GET without tags, and one without a description") {
    auto no_tags = deployment_resource();
    no_tags.erase("tags");
    auto no_description = deployment_resource();
    no_description.erase("description");
    THEN("missing tags are refused; a description the update gives is not needed") {
      const auto refused = update_body("digits", no_tags, fields);
      REQUIRE_FALSE(refused);
      CHECK_THAT(refused.error().message, Catch::Contains("the tags of deployment digits"));
      CHECK_FALSE(update_body("digits", no_description, fields));
      auto described = fields;
      described.description = "new";
      CHECK(update_body("digits", no_description, described));
    }
  }
}

TEST_CASE("deploy update keeps the environment variables the GET shows and adds --env",
          "[unit][cli][deploy]") {
  DeploySession fake;
  DeployUpdateOptions options;
  options.name = "digits";
  options.fields.replicas = 1;
  options.fields.env = {"EXTRA=1"};
  GIVEN("a deployment with variables and tags") {
    fake.transport.add_json("GET", k_digits, 200, deployment_resource());
    auto updated = deployment_resource();
    updated["revision"] = 4;
    fake.transport.add_json("PUT", k_digits, 200, updated);
    const auto code = run_deploy_update(fake.session, options);
    THEN("the PUT carries them, with the new variable and replica count") {
      REQUIRE(code.value() == 0);
      const auto body = json::parse(fake.transport.requests_to("PUT", k_digits).at(0).body);
      CHECK(body.at("environment_variables") ==
            json{{"MODE", "fast"}, {"SEED", "1"}, {"EXTRA", "1"}});
      CHECK(body.at("tags") == json{{"team", "vision"}});
      CHECK(body.at("replicas") == 1);
      CHECK(body.at("description") == "digits classifier");
      CHECK_FALSE(body.contains("revision"));
      CHECK_THAT(fake.out.str(), Catch::Contains("updated deployment digits (revision 4)"));
    }
  }
  GIVEN("a service whose GET lacks the variables") {
    auto current = deployment_resource();
    current.erase("environment_variables");
    fake.transport.add_json("GET", k_digits, 200, current);
    const auto code = run_deploy_update(fake.session, options);
    THEN("the command fails and sends no PUT") {
      REQUIRE_FALSE(code);
      CHECK_THAT(code.error().message, Catch::Contains("environment_variables"));
      CHECK(fake.transport.requests_to("PUT", k_digits).empty());
    }
  }
}

TEST_CASE("deploy update of a no-code deployment keeps it no-code", "[unit][cli][deploy]") {
  DeploySession fake;
  auto current = deployment_resource();
  current["entry_script"] = nullptr;
  current["snapshot_id"] = nullptr;
  fake.transport.add_json("GET", k_digits, 200, current);
  DeployUpdateOptions options;
  options.name = "digits";
  WHEN("it changes the model") {
    options.fields.models = {"digits:2"};
    fake.transport.add_json("PUT", k_digits, 200, current);
    const auto code = run_deploy_update(fake.session, options);
    THEN("the PUT has the new model and still no entry script") {
      REQUIRE(code.value() == 0);
      const auto body = json::parse(fake.transport.requests_to("PUT", k_digits).at(0).body);
      CHECK(body.at("models") == json::parse(R"([{"name": "digits", "version": 2}])"));
      CHECK(body.at("entry_script").is_null());
      CHECK(body.at("snapshot_id").is_null());
    }
  }
  WHEN("it gives a source directory without an entry script") {
    options.fields.source_dir = ".";
    const auto code = run_deploy_update(fake.session, options);
    THEN("it is a usage error and nothing is uploaded or sent") {
      REQUIRE_FALSE(code);
      CHECK(code.error().code == ErrorCode::usage);
      CHECK_THAT(code.error().message, Catch::Contains("--source-dir needs --entry-script"));
      CHECK(fake.transport.requests_to("PUT", k_digits).empty());
      CHECK(fake.transport.requests_to("POST", "/v1/workspaces/default/blobs").empty());
    }
  }
}

TEST_CASE("deploy regenerate-key asks for a new key and prints it", "[unit][cli][deploy]") {
  DeploySession fake;
  fake.transport.add_json("POST", k_digits + "/keys/regenerate", 200,
                          {{"primary_key", "new-key-123"}});
  const DeployKeyOptions options{.name = "digits"};
  WHEN("a person runs it") {
    const auto code = run_deploy_regenerate_key(fake.session, options);
    THEN("the new key is on stdout and the warning about the old one on stderr") {
      REQUIRE(code.value() == 0);
      CHECK(fake.transport.requests_to("POST", k_digits + "/keys/regenerate").at(0).body == "{}");
      CHECK(fake.out.str() == "new scoring key of deployment digits: new-key-123\n");
      CHECK_THAT(fake.err.str(), Catch::Contains("old key no longer works"));
    }
  }
  WHEN("a script asks for JSON") {
    fake.printer.set_options(PrinterOptions{.format = OutputFormat::json});
    const auto code = run_deploy_regenerate_key(fake.session, options);
    THEN("stdout is the name and the key") {
      REQUIRE(code.value() == 0);
      CHECK(json::parse(fake.out.str()) ==
            json{{"name", "digits"}, {"scoring_key", "new-key-123"}});
    }
  }
  WHEN("the name is not a deployment name") {
    THEN("it is a usage error") {
      CHECK(code_of(validate(DeployKeyOptions{.name = "../x"})) == ErrorCode::usage);
    }
  }
}
