// The deploy commands' usage checks and model references (src/cli/commands/deploy.cpp).
#include <catch2/catch.hpp>

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
  WHEN("no model or no entry script is given") {
    auto no_model = options;
    no_model.fields.models.clear();
    auto no_script = options;
    no_script.fields.entry_script.clear();
    THEN("each is a usage error") {
      CHECK(code_of(validate(no_model)) == ErrorCode::usage);
      CHECK(code_of(validate(no_script)) == ErrorCode::usage);
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
