#pragma once
// A line chart of a metric for the terminal, drawn with Unicode braille characters (2 x 4 dots
// per character cell), with the value axis on the left and the step axis below. Pure: lines in,
// lines out; the printer writes them.
#include <string>
#include <vector>

namespace trainctl::cli {

struct ChartPoint {
  double step = 0;
  double value = 0;
};

struct ChartSize {
  int width = 60;  // character cells of the plot area
  int height = 10;
};

// The chart of `points` (in step order; NaN and infinite values are left out, and said so under
// the chart): `height` lines of plot, each "<label> ┤<cells>" or "<pad> │<cells>", then the step
// axis "└───" and the first and last steps. Consecutive points are joined by lines, so a curve
// reads as one. A single point is a dot; no finite point at all is one line saying so.
std::vector<std::string> render_chart(const std::vector<ChartPoint>& points, ChartSize size);

}  // namespace trainctl::cli
