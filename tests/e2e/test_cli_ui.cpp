// `trainctl ui`: the web UI's address with a one-time login code, against a real trainctld.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

using namespace trainctl::testing;

SCENARIO("trainctl ui prints a login address that works once", "[cli][ui]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  WHEN("the user runs trainctl ui without a desktop") {
    const auto result = cli.run({"ui", "--no-open"});
    const std::string address = trimmed(result.out);
    THEN("it prints the service's login page with a code in the fragment, never the token") {
      REQUIRE(result.exit_code == 0);
      const std::string prefix = service.endpoint() + "/ui/login#code=";
      REQUIRE(address.starts_with(prefix));
      CHECK(address.size() == prefix.size() + 32);
      CHECK(result.out.find(service.token()) == std::string::npos);
      CHECK(result.err.find(service.token()) == std::string::npos);
      AND_THEN("the code logs a browser in once") {
        const std::string body = nlohmann::json{{"code", address.substr(prefix.size())}}.dump();
        CHECK(http_request(service, "POST", "/ui/session", body, {}, false).status == 200);
        CHECK(http_request(service, "POST", "/ui/session", body, {}, false).status == 401);
      }
    }
  }
  WHEN("it is asked for JSON") {
    const auto result = cli.run({"ui", "--no-open", "-o", "json"});
    THEN("it prints the address and when its code expires") {
      REQUIRE(result.exit_code == 0);
      const auto document = nlohmann::json::parse(result.out);
      CHECK(document["address"].get<std::string>().starts_with(service.endpoint() + "/ui/login#code="));
      CHECK(document.contains("expires_at"));
    }
  }
  WHEN("the token is wrong") {
    const CliEnvironment wrong(EnvironmentVariables{{"TRAINCTL_ENDPOINT", service.endpoint()},
                                                    {"TRAINCTL_TOKEN", std::string(64, '0')}});
    const auto result = wrong.run({"ui", "--no-open"});
    THEN("no address is printed and the exit code says unauthorized") {
      CHECK(result.exit_code != 0);
      CHECK(result.out.find("/ui/login") == std::string::npos);
    }
  }
}
