// The gang scheduler as a pure function (include/trainctl/service/runs/scheduler.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "trainctl/service/runs/scheduler.hpp"

using trainctl::service::scheduling::Decision;
using trainctl::service::scheduling::HeldNodes;
using trainctl::service::scheduling::schedule;
using trainctl::service::scheduling::Target;
using trainctl::service::scheduling::WaitingRun;

namespace {

Target local(int max_nodes, std::string state = "Succeeded") {
  return Target{"ws", "local", max_nodes, std::move(state), ""};
}

WaitingRun waiting(std::string id, int nodes, int64_t seq, int priority = 0) {
  return WaitingRun{std::move(id), "ws", "local", priority, seq, nodes};
}

HeldNodes held(std::vector<int> nodes) { return HeldNodes{"ws", "local", std::move(nodes)}; }

std::vector<std::string> started(const Decision& decision) {
  std::vector<std::string> ids;
  for (const auto& start : decision.starts) ids.push_back(start.run_id);
  return ids;
}

}  // namespace

TEST_CASE("Runs start only when all their nodes are free, in submission order", "[scheduler]") {
  GIVEN("a target of 2 nodes and three runs of 2 nodes") {
    const std::vector runs{waiting("a", 2, 1), waiting("b", 2, 2), waiting("c", 2, 3)};
    const auto decision = schedule({local(2)}, runs, {});
    THEN("the first takes both nodes and the others wait, in order") {
      CHECK(started(decision) == std::vector<std::string>{"a"});
      CHECK(decision.starts[0].nodes == std::vector<int>{0, 1});
      REQUIRE(decision.waiting.size() == 2);
      CHECK(decision.waiting.at("b").position == 1);
      CHECK(decision.waiting.at("b").queue_length == 2);
      CHECK(decision.waiting.at("b").reason == "waiting for 2 nodes; 0 of 2 free");
      CHECK(decision.waiting.at("c").position == 2);
      CHECK(decision.waiting.at("c").reason == "queued behind b");
    }
  }
  GIVEN("a run holding node 0 of 3") {
    const auto decision = schedule({local(3)}, {waiting("a", 2, 1)}, {held({0})});
    THEN("the next run gets the free nodes, never a busy one") {
      REQUIRE(decision.starts.size() == 1);
      CHECK(decision.starts[0].nodes == std::vector<int>{1, 2});
    }
  }
}

TEST_CASE("A large run at the head is never starved by small ones behind it", "[scheduler]") {
  GIVEN("1 of 2 nodes busy, a 2-node run first and 1-node runs after it") {
    const std::vector runs{waiting("big", 2, 1), waiting("small-1", 1, 2), waiting("small-2", 1, 3)};
    const auto decision = schedule({local(2)}, runs, {held({0})});
    THEN("no small run takes the free node the large one waits for") {
      CHECK(decision.starts.empty());
      CHECK(decision.waiting.at("big").position == 1);
      CHECK(decision.waiting.at("small-1").reason == "queued behind big");
    }
  }
}

TEST_CASE("Higher priorities start first, FIFO within one", "[scheduler]") {
  const std::vector runs{waiting("old-low", 1, 1, 0), waiting("new-high", 1, 2, 10),
                         waiting("newer-high", 1, 3, 10)};
  const auto decision = schedule({local(2)}, runs, {});
  CHECK(started(decision) == std::vector<std::string>{"new-high", "newer-high"});
  CHECK(decision.waiting.at("old-low").position == 1);
}

TEST_CASE("What can never fit or cannot start yet says why, and blocks nothing", "[scheduler]") {
  GIVEN("a run asking for more nodes than the target has, ahead of one that fits") {
    const auto decision = schedule({local(2)}, {waiting("huge", 4, 1), waiting("fits", 1, 2)}, {});
    THEN("the one that fits starts and the other is told what to change") {
      CHECK(started(decision) == std::vector<std::string>{"fits"});
      CHECK(decision.waiting.at("huge").reason.find("--max-nodes 4") != std::string::npos);
    }
  }
  GIVEN("a target still being provisioned") {
    const auto decision = schedule({local(2, "Creating")}, {waiting("a", 1, 1)}, {});
    THEN("nothing starts there") {
      CHECK(decision.starts.empty());
      CHECK(decision.waiting.at("a").reason == "compute target 'local' is being provisioned");
    }
  }
  GIVEN("a run on a target that does not exist") {
    const auto decision = schedule({}, {waiting("a", 1, 1)}, {});
    THEN("it waits with that reason") {
      CHECK(decision.waiting.at("a").reason == "compute target 'local' does not exist");
    }
  }
}

TEST_CASE("Capacity is never exceeded, whatever the mix", "[scheduler]") {
  // Every mix of run sizes over a 4-node target with some nodes held: the nodes given plus
  // those held are distinct and within max_nodes.
  for (int held_count = 0; held_count <= 4; ++held_count) {
    for (int size_a = 1; size_a <= 4; ++size_a) {
      for (int size_b = 1; size_b <= 4; ++size_b) {
        std::vector<int> held_nodes;
        for (int i = 0; i < held_count; ++i) held_nodes.push_back(3 - i);
        const auto decision = schedule(
            {local(4)}, {waiting("a", size_a, 1), waiting("b", size_b, 2), waiting("c", 1, 3)},
            {held(held_nodes)});
        std::vector<bool> used(4, false);
        for (int node : held_nodes) used[static_cast<size_t>(node)] = true;
        for (const auto& start : decision.starts) {
          for (int node : start.nodes) {
            REQUIRE(node >= 0);
            REQUIRE(node < 4);
            REQUIRE_FALSE(used[static_cast<size_t>(node)]);
            used[static_cast<size_t>(node)] = true;
          }
        }
        CHECK(decision.starts.size() + decision.waiting.size() == 3);
      }
    }
  }
}

TEST_CASE("Targets of different workspaces are separate queues", "[scheduler]") {
  const std::vector<Target> targets{local(1), Target{"other", "local", 1, "Succeeded", ""}};
  const std::vector runs{waiting("a", 1, 1), waiting("b", 1, 2),
                         WaitingRun{"c", "other", "local", 0, 3, 1}};
  const auto decision = schedule(targets, runs, {});
  auto ids = started(decision);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::string>{"a", "c"});
  CHECK(decision.waiting.at("b").position == 1);
}

TEST_CASE("A target that queues runs itself (Slurm) starts every run that fits its max_nodes",
          "[scheduler]") {
  Target slurm = local(2);
  slurm.queues_itself = true;
  const auto decision = schedule({slurm}, {waiting("a", 2, 1), waiting("b", 2, 2), waiting("c", 3, 3)},
                                 {held({0, 1})});
  THEN("nothing waits for nodes held by runs on the service's side: Slurm decides") {
    REQUIRE(decision.starts.size() == 2);
    CHECK(decision.starts[0].run_id == "a");
    CHECK(decision.starts[1].run_id == "b");
  }
  THEN("a run larger than max_nodes still waits, saying what to change") {
    REQUIRE(decision.waiting.contains("c"));
    CHECK_THAT(decision.waiting.at("c").reason, Catch::Contains("max_nodes 2"));
  }
}
