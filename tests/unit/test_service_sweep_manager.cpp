// What the sweep manager does to a trial's script_params and how it ranks trials.
#include <catch2/catch.hpp>

#include "trainctl/service/sweeps/sweep_manager.hpp"

using namespace trainctl::service;
using Strings = std::vector<std::string>;

TEST_CASE("a trial's values replace or join the spec's script_params", "[service][sweeps]") {
  CHECK(with_script_values({"--C", "1", "--verbose", "--gamma", "0.1"},
                           {{"--C", "10"}, {"--verbose", "x"}, {"--kernel", "rbf"}}) ==
        Strings{"--C", "10", "--verbose", "x", "--gamma", "0.1", "--kernel", "rbf"});
}

TEST_CASE("trials rank by the objective, those without one last", "[service][sweeps]") {
  trainctl::spec::Sweep sweep;
  sweep.primary_metric = "acc";
  std::vector<RunRecord> trials(3);
  trials[0].metrics = {{"acc", {{"last", 0.5}}}};
  trials[1].metrics = nlohmann::json::object();
  trials[2].metrics = {{"acc", {{"last", 0.7}}}};
  auto ranked = rank_trials(sweep, trials);
  CHECK(ranked[0].run == &trials[2]);
  CHECK(ranked[1].run == &trials[0]);
  CHECK_FALSE(ranked[2].objective.has_value());
  sweep.goal = trainctl::spec::Goal::minimize;
  ranked = rank_trials(sweep, trials);
  CHECK(ranked[0].run == &trials[0]);
}
