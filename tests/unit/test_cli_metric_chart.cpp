// The braille line chart of `run metrics` (metric_chart.hpp).
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "trainctl/cli/metric_chart.hpp"

using trainctl::cli::ChartPoint;
using trainctl::cli::render_chart;

namespace {

// The plot cells of a chart line: what follows the axis character.
std::string cells_of(const std::string& line) {
  for (const std::string axis : {"┤", "│"}) {
    if (const auto at = line.find(axis); at != std::string::npos) return line.substr(at + axis.size());
  }
  return {};
}

bool blank(const std::string& cells) {
  for (size_t i = 0; i + 2 < cells.size() + 1; i += 3) {
    if (cells.compare(i, 3, "\u2800") != 0) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a falling curve starts at the top left and ends at the bottom right", "[cli][chart]") {
  std::vector<ChartPoint> points;
  for (int step = 0; step <= 100; ++step) points.push_back({double(step), 100.0 - step});
  const auto lines = render_chart(points, {.width = 20, .height = 5});
  REQUIRE(lines.size() == 7);  // 5 rows, the axis, the step labels
  CHECK(lines[0].find("100 ┤") == 0);
  CHECK(lines[2].find("50 ┤") != std::string::npos);
  CHECK(lines[4].find("0 ┤") != std::string::npos);
  const std::string top = cells_of(lines[0]);
  const std::string bottom = cells_of(lines[4]);
  // 20 braille cells of 3 bytes each.
  REQUIRE(top.size() == 60);
  CHECK(top.substr(0, 3) != "\u2800");     // top left drawn
  CHECK(top.substr(57, 3) == "\u2800");    // top right empty
  CHECK(bottom.substr(57, 3) != "\u2800");  // bottom right drawn
  CHECK(bottom.substr(0, 3) == "\u2800");   // bottom left empty
  CHECK(lines[5].find("└────") != std::string::npos);
  CHECK(lines[6].find("0") != std::string::npos);
  CHECK(lines[6].find("100") != std::string::npos);
}

TEST_CASE("a flat line sits in the middle rows", "[cli][chart]") {
  const auto lines = render_chart({{0, 5}, {10, 5}}, {.width = 10, .height = 5});
  CHECK(blank(cells_of(lines[0])));
  CHECK_FALSE(blank(cells_of(lines[2])));
  CHECK(blank(cells_of(lines[4])));
}

TEST_CASE("NaN and infinite values are left out, and said so", "[cli][chart]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto lines = render_chart({{0, 1}, {1, nan}, {2, 2}}, {.width = 10, .height = 3});
  CHECK(lines.back().find("(1 NaN or infinite value not drawn)") != std::string::npos);
  CHECK(render_chart({{0, nan}}, {}).front() == "(no finite value to draw: 1 NaN or infinite)");
  CHECK(render_chart({}, {}).front() == "(no points yet)");
}
