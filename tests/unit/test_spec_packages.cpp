// pip package names: only requirement strings reach pip; options, shell
// syntax and requirement files are refused when the spec is read and when the service
// validates a payload.
#include <catch2/catch.hpp>
#include <string>

#include "trainctl/spec/job_spec.hpp"

using trainctl::ErrorCode;
using trainctl::spec::build_payload;
using trainctl::spec::job_spec_from_payload;
using trainctl::spec::JobSpec;
using trainctl::spec::parse_job_spec;

namespace {

const JobSpec k_valid_spec = parse_job_spec("estimator:\n  entry_script: train.py\n").value();

// The payload a client would POST for a spec with these pip packages.
nlohmann::json payload_with(const std::string& package) {
  auto payload = build_payload(k_valid_spec, std::string(64, 'a'));
  payload["estimator"]["pip_packages"] = nlohmann::json::array({package});
  return payload;
}

// The YAML of a spec with this one pip package, the package quoted as a YAML string.
std::string yaml_with(const std::string& package) {
  return "estimator:\n  entry_script: train.py\n  pip_packages: ['" + package + "']\n";
}

}  // namespace

TEST_CASE("pip packages that are options or shell syntax are refused", "[spec][packages]") {
  const auto package =
      GENERATE(as<std::string>{}, "-i https://x/", "--extra-index-url=x", "x; rm -rf ~", "$(id)",
               "-r -", "-r requirements.txt", "-e .", "x && id", "`id`", "x|id", "x > /tmp/y",
               "./local/dir", "https://x/pkg.whl", "", " numpy", "numpy\nid");
  GIVEN("a spec asking pip to install '" + package + "'") {
    WHEN("the spec file is read") {
      const auto spec = parse_job_spec(yaml_with(package));

      THEN("it is refused, pointing at the package") {
        REQUIRE_FALSE(spec.has_value());
        CHECK(spec.error().code == ErrorCode::invalid_spec);
        REQUIRE(spec.error().details.size() == 1);
        CHECK(spec.error().details.front().path == "estimator.pip_packages[0]");
      }
    }
    WHEN("a client sends it to the service in a payload") {
      const auto spec = job_spec_from_payload(payload_with(package));

      THEN("the service refuses it too") {
        REQUIRE_FALSE(spec.has_value());
        CHECK(spec.error().code == ErrorCode::invalid_spec);
      }
    }
  }
}

TEST_CASE("ordinary requirement strings are accepted", "[spec][packages]") {
  const auto package =
      GENERATE(as<std::string>{}, "numpy", "scikit-learn", "numpy>=1.24", "torch==2.1.0",
               "requests[socks]", "pandas<3,>=2", "zope.interface~=6.0", "my_pkg!=0.1", "Pillow");
  GIVEN("a spec asking pip to install '" + package + "'") {
    THEN("the spec file and the payload are both accepted, the package kept as written") {
      const auto spec = parse_job_spec(yaml_with(package));
      REQUIRE(spec.has_value());
      CHECK(spec->estimator.pip_packages == std::vector<std::string>{package});
      CHECK(job_spec_from_payload(payload_with(package)).has_value());
    }
  }
}
