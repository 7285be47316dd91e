// Metrics through the real trainctld (docs/metrics.md): what real runs log with the `trainctl`
// Python module and with the metrics file, from several MPI ranks and across a retry, is
// recorded once, summarized on the run, served downsampled and streamed live; a restart of the
// service loses and repeats nothing.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;
using nlohmann::json;

namespace {

std::string run_path(const std::string& id) { return "/v1/workspaces/default/runs/" + id; }

json metrics_of(const ServiceFixture& service, const std::string& id) {
  return body_json(http_request(service, "GET", run_path(id) + "/metrics"));
}

json series_of(const ServiceFixture& service, const std::string& id, const std::string& query) {
  return body_json(http_request(service, "GET", run_path(id) + "/metrics/series?" + query));
}

// Every event of a points stream that ends on its own.
std::vector<json> point_events(const ServiceFixture& service, const std::string& id,
                               const std::string& query) {
  std::vector<json> events;
  const auto response = http_request(service, "GET", run_path(id) + "/metrics/points?" + query);
  const std::string_view body = response.body;
  for (size_t start = 0, newline; (newline = body.find('\n', start)) != std::string_view::npos;
       start = newline + 1) {
    events.push_back(json::parse(body.substr(start, newline - start)));
  }
  return events;
}

json submit_payload(const ServiceFixture& service, const std::string& script,
                    const json& estimator_extra = json::object(), const json& extra = json::object()) {
  auto payload = script_payload(upload_snapshot(service, {{"train.py", script}}));
  payload["estimator"].update(estimator_extra);
  payload.update(extra);
  return body_json(http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
}

}  // namespace

SCENARIO("a script logs metrics, params and tags with the trainctl module", "[service][metrics]") {
  ServiceFixture service;
  GIVEN("a run that imports trainctl, which nothing installed") {
    const std::string script =
        "import trainctl\n"
        "trainctl.log_param('optimizer', 'adam')\n"
        "trainctl.log_params({'layers': 3})\n"
        "for step in range(10):\n"
        "    trainctl.log_metric('loss', 1.0 / (step + 1), step=step)\n"
        "trainctl.log_metrics({'accuracy': 0.9, 'val/accuracy': 0.85})\n"
        "trainctl.log_metric('diverged', float('nan'))\n"
        "trainctl.log_metric('bad name!', 1)\n"
        "trainctl.set_tag('stage', 'done')\n";
    const auto created = submit_payload(service, script, {{"script_params", {"--lr", "0.1", "--fast"}}},
                                        {{"tags", {{"team", "vision"}}}});
    const std::string id = created.value("id", "");
    REQUIRE_FALSE(id.empty());

    WHEN("it completes") {
      const auto run = wait_for_run(service, id);
      REQUIRE(run["status"] == "Completed");

      THEN("the run resource carries the summary of every metric, the params and the tags") {
        CHECK(run["metrics"]["loss"]["last"] == 0.1);
        CHECK(run["metrics"]["loss"]["last_step"] == 9);
        CHECK(run["metrics"]["loss"]["min"] == 0.1);
        CHECK(run["metrics"]["loss"]["max"] == 1.0);
        CHECK(run["metrics"]["loss"]["count"] == 10);
        CHECK(run["metrics"]["val/accuracy"]["last"] == 0.85);
        CHECK(run["metrics"]["diverged"]["last"] == "NaN");
        CHECK(run["metrics"]["diverged"]["min"].is_null());
        CHECK_FALSE(run["metrics"].contains("bad name!"));
        CHECK(run["params"] == json{{"--lr", "0.1"}, {"--fast", ""}, {"optimizer", "adam"},
                                    {"layers", "3"}});
        CHECK(run["tags"] == json{{"team", "vision"}, {"stage", "done"}});
      }
      THEN("the metrics resource lists the series of the one task") {
        const auto metrics = metrics_of(service, id);
        REQUIRE(metrics["series"].size() == 4);
        for (const auto& series : metrics["series"]) {
          CHECK(series["task"] == "main");
          CHECK(series["attempt"] == 1);
        }
        CHECK(metrics["rejected"].empty());
      }
      THEN("the dropped point is explained in the task's log") {
        const auto log = read_run_logs(service, id).by_task["main"];
        CHECK(log.find("metric name 'bad name!' is not valid") != std::string::npos);
      }
      THEN("a metric's series has every point, in step order") {
        const auto series = series_of(service, id, "name=loss");
        REQUIRE(series["series"].size() == 1);
        const auto& points = series["series"][0]["points"];
        REQUIRE(points.size() == 10);
        CHECK(series["series"][0]["downsampled"] == false);
        for (int step = 0; step < 10; ++step) {
          CHECK(points[step]["step"] == step);
          CHECK(points[step]["value"] == Approx(1.0 / (step + 1)));
        }
      }
      THEN("a metric it did not log is 404 naming those it did, a bad name 400") {
        const auto missing = http_request(service, "GET", run_path(id) + "/metrics/series?name=recall");
        CHECK(missing.status == 404);
        CHECK(missing.body.find("its metrics are accuracy, diverged, loss, val/accuracy") !=
              std::string::npos);
        CHECK(http_request(service, "GET", run_path(id) + "/metrics/series?name=a%20b").status == 400);
        CHECK(http_request(service, "GET", run_path(id) + "/metrics/series").status == 400);
      }
    }
  }
}

SCENARIO("any program logs through the metrics file, and bad lines are counted, not fatal",
         "[service][metrics]") {
  ServiceFixture service;
  GIVEN("a shell script (started by the run) that appends JSON lines to $TRAINCTL_METRICS_FILE") {
    const std::string shell =
        "echo '{\"metric\": \"loss\", \"value\": 2.5, \"step\": 1}' >> \"$TRAINCTL_METRICS_FILE\"\n"
        "echo 'not json' >> \"$TRAINCTL_METRICS_FILE\"\n"
        "echo '{\"metric\": \"loss\", \"value\": \"Infinity\"}' >> \"$TRAINCTL_METRICS_FILE\"\n"
        "echo '{\"metric\": \"loss\", \"value\": [1]}' >> \"$TRAINCTL_METRICS_FILE\"\n"
        "echo '{\"param\": \"seed\", \"value\": 7}' >> \"$TRAINCTL_METRICS_FILE\"\n"
        "printf '{\"metric\": \"loss\", \"value\": 1.5}' >> \"$TRAINCTL_METRICS_FILE\"\n";
    auto payload = script_payload(
        upload_snapshot(service, {{"train.py", "import subprocess\n"
                                               "subprocess.run(['/bin/sh', 'log.sh'], check=True)\n"},
                                  {"log.sh", shell}}));
    const auto submitted =
        body_json(http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
    const std::string id = submitted.value("id", "");
    REQUIRE_FALSE(id.empty());

    WHEN("it completes") {
      const auto run = wait_for_run(service, id);
      REQUIRE(run["status"] == "Completed");
      THEN("every good line is recorded, the last one without its newline too") {
        const auto series = series_of(service, id, "name=loss");
        const auto& points = series["series"][0]["points"];
        REQUIRE(points.size() == 3);
        CHECK(points[0]["step"] == 1);
        CHECK(points[0]["value"] == 2.5);
        CHECK(points[1]["step"] == 2);  // no step: the one after the series' last
        CHECK(points[1]["value"] == "Infinity");
        CHECK(points[2]["value"] == 1.5);
        CHECK(run["params"]["seed"] == "7");
        CHECK(run["metrics"]["loss"]["max"] == "Infinity");
        CHECK(run["metrics"]["loss"]["min"] == 1.5);
      }
      THEN("the rejected lines are counted, with the last problem and its line number") {
        const auto metrics = metrics_of(service, id);
        REQUIRE(metrics["rejected"].size() == 1);
        CHECK(metrics["rejected"][0]["task"] == "main");
        CHECK(metrics["rejected"][0]["lines"] == 2);
        CHECK(metrics["rejected"][0]["last_problem"].get<std::string>().starts_with(
            "main.metrics.jsonl line 4: metric 'loss': \"value\" must be a number"));
      }
    }
  }
}

SCENARIO("100,000 points logged in one loop are all recorded, and served downsampled",
         "[service][metrics]") {
  ServiceFixture service;
  GIVEN("a run that logs 100,000 points as fast as it can") {
    const auto created = submit_payload(
        service,
        "import trainctl\n"
        "for step in range(100000):\n"
        "    trainctl.log_metric('loss', float(step % 1000), step=step)\n");
    const std::string id = created.value("id", "");
    const auto run = wait_for_run(service, id, 120);
    REQUIRE(run["status"] == "Completed");

    THEN("every point is recorded") {
      CHECK(run["metrics"]["loss"]["count"] == 100000);
      CHECK(run["metrics"]["loss"]["last_step"] == 99999);
      CHECK(run["metrics"]["loss"]["max"] == 999);
    }
    WHEN("the series is asked for in at most 100 points") {
      const auto series = series_of(service, id, "name=loss&max_points=100");
      const auto& first = series["series"][0];
      THEN("each point stands for 1,000 points: their mean, least and greatest value") {
        CHECK(first["downsampled"] == true);
        CHECK(first["count"] == 100000);
        REQUIRE(first["points"].size() == 100);
        const auto& point = first["points"][7];
        CHECK(point["points"] == 1000);
        CHECK(point["value"] == Approx(499.5));
        CHECK(point["low"] == 0);
        CHECK(point["high"] == 999);
        CHECK(point["step"] == 7999);
      }
    }
    WHEN("the points are streamed without follow") {
      const auto events = point_events(service, id, "name=loss");
      THEN("every point comes once, in order, then the end") {
        REQUIRE(events.size() == 100001);
        bool in_order = true;
        for (int i = 0; i < 100000; ++i) in_order = in_order && events[i]["index"] == i;
        CHECK(in_order);
        CHECK(events.back()["type"] == "end");
        CHECK(events.back()["status"] == "Completed");
      }
    }
  }
}

SCENARIO("the live stream shows points while the run goes on", "[service][metrics]") {
  ServiceFixture service;
  GIVEN("a run that logs a point, then waits for a file before logging the next") {
    const auto created = submit_payload(
        service,
        "import os, time, trainctl\n"
        "trainctl.log_metric('loss', 1.0)\n"
        "go = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'go')\n"
        "while not os.path.exists(go):\n"
        "    time.sleep(0.02)\n"
        "trainctl.log_metric('loss', 0.5)\n");
    const std::string id = created.value("id", "");
    REQUIRE_FALSE(id.empty());

    WHEN("a client follows the points") {
      httplib::Client client("127.0.0.1", service.port());
      client.set_read_timeout(60, 0);
      std::vector<json> points;
      bool released = false;
      std::string end_status;
      NdjsonLines lines;
      const auto response = client.Get(
          run_path(id) + "/metrics/points?follow=true",
          {{"Authorization", "Bearer " + service.token()}}, [&](const char* data, size_t size) {
            return lines.feed(data, size, [&](json event) {
              if (event["type"] == "point") points.push_back(event);
              if (event["type"] == "end") end_status = event["status"];
              if (points.size() == 1 && !released) {
                // The first point arrived while the run waits: let it log the second.
                trainctl::util::write_file_atomic(
                    service.home() / "runs" / id / "outputs" / "go", "");
                released = true;
              }
              return true;
            });
          });
      THEN("the first point arrives before the run logs the second, then the rest and the end") {
        REQUIRE(response);
        CHECK(released);
        REQUIRE(points.size() == 2);
        CHECK(points[0]["value"] == 1.0);
        CHECK(points[1]["value"] == 0.5);
        CHECK(points[1]["step"] == 1);
        CHECK(end_status == "Completed");
      }
    }
  }
}

SCENARIO("metrics across a retry are kept per attempt", "[service][metrics][retries]") {
  ServiceFixture service;
  GIVEN("a run whose first attempt logs and is killed, and whose second attempt completes") {
    const std::string script =
        "import os, signal, trainctl\n"
        "marker = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'tried')\n"
        "first = not os.path.exists(marker)\n"
        "trainctl.log_metric('loss', 9.0 if first else 1.0, step=0)\n"
        "if first:\n"
        "    open(marker, 'w').close()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n";
    const auto created = submit_payload(service, script, json::object(),
                                        {{"limits", {{"max_retries", 1}}}});
    const std::string id = created.value("id", "");
    const auto run = wait_for_run(service, id, 90);
    REQUIRE(run["status"] == "Completed");
    REQUIRE(run["attempt"] == 2);

    THEN("each attempt has its own series; the summary's last value is the last attempt's") {
      const auto series = series_of(service, id, "name=loss");
      REQUIRE(series["series"].size() == 2);
      CHECK(series["series"][0]["attempt"] == 1);
      CHECK(series["series"][0]["points"][0]["value"] == 9.0);
      CHECK(series["series"][1]["attempt"] == 2);
      CHECK(series["series"][1]["points"][0]["value"] == 1.0);
      CHECK(run["metrics"]["loss"]["last"] == 1.0);
      CHECK(run["metrics"]["loss"]["max"] == 9.0);
      CHECK(series_of(service, id, "name=loss&attempt=1")["series"].size() == 1);
    }
  }
}

SCENARIO("every rank of an MPI run logs its own series", "[service][metrics][distributed]") {
  ServiceFixture service;
  GIVEN("an MPI run of 3 ranks, each logging its rank") {
    const auto created = submit_payload(
        service,
        "import os, trainctl\n"
        "rank = int(os.environ['OMPI_COMM_WORLD_RANK'])\n"
        "for step in range(5):\n"
        "    trainctl.log_metric('rank', rank, step=step)\n",
        {{"node_count", 1}, {"process_count_per_node", 3},
         {"distributed_training", {{"backend", "mpi"}}}});
    const std::string id = created.value("id", "");
    const auto run = wait_for_run(service, id, 120);
    INFO(run.dump());
    REQUIRE(run["status"] == "Completed");

    THEN("there is a series per rank, named after its task, with that rank's values") {
      const auto series = series_of(service, id, "name=rank");
      REQUIRE(series["series"].size() == 3);
      for (int rank = 0; rank < 3; ++rank) {
        const auto& one = series["series"][rank];
        CHECK(one["task"] == fmt::format("rank-{}", rank));
        CHECK(one["count"] == 5);
        CHECK(one["points"][4]["value"] == rank);
      }
      CHECK(run["metrics"]["rank"]["count"] == 15);
      CHECK(series_of(service, id, "name=rank&task=rank-2")["series"].size() == 1);
    }
  }
}

SCENARIO("a restart of the service mid-run neither loses nor repeats a point",
         "[service][metrics][restart]") {
  ServiceFixture service;
  GIVEN("a run that logs 50 points, waits for a file, then logs 50 more") {
    const auto created = submit_payload(
        service,
        "import os, time, trainctl\n"
        "for step in range(50):\n"
        "    trainctl.log_metric('loss', step, step=step)\n"
        "go = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'go')\n"
        "while not os.path.exists(go):\n"
        "    time.sleep(0.02)\n"
        "for step in range(50, 100):\n"
        "    trainctl.log_metric('loss', step, step=step)\n");
    const std::string id = created.value("id", "");
    REQUIRE(eventually([&] {
      return metrics_of(service, id)["metrics"].value("loss", json::object()).value("count", 0) == 50;
    }, 60));

    WHEN("trainctld is killed with SIGKILL, the run goes on, and trainctld starts again") {
      service.kill9();
      trainctl::util::write_file_atomic(service.home() / "runs" / id / "outputs" / "go", "");
      service.start();
      const auto run = wait_for_run(service, id, 90);
      REQUIRE(run["status"] == "Completed");
      THEN("the series holds each of the 100 points once") {
        CHECK(run["metrics"]["loss"]["count"] == 100);
        const auto points = series_of(service, id, "name=loss")["series"][0]["points"];
        REQUIRE(points.size() == 100);
        bool each_once = true;
        for (int step = 0; step < 100; ++step) each_once = each_once && points[step]["step"] == step;
        CHECK(each_once);
      }
    }
  }
}
