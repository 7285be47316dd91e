#include "trainctl/cli/metric_chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace trainctl::cli {

namespace {

constexpr int k_dots_across = 2;
constexpr int k_dots_down = 4;
constexpr char32_t k_braille_blank = 0x2800;
// The bit of each dot of a braille cell, by [row][column] (Unicode's dot numbering).
constexpr uint8_t k_dot_bits[k_dots_down][k_dots_across] = {
    {0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

std::string utf8(char32_t code) {
  std::string out;
  out += static_cast<char>(0xE0 | (code >> 12));
  out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
  out += static_cast<char>(0x80 | (code & 0x3F));
  return out;
}

// A short label for an axis value: 4 significant digits.
std::string label(double value) { return fmt::format("{:.4g}", value); }

class DotGrid {
 public:
  DotGrid(int width, int height)
      : m_width(width), m_height(height), m_cells(static_cast<size_t>(width * height), 0) {}

  int dots_across() const { return m_width * k_dots_across; }
  int dots_down() const { return m_height * k_dots_down; }

  void set(int x, int y) {
    if (x < 0 || y < 0 || x >= dots_across() || y >= dots_down()) return;
    m_cells[static_cast<size_t>((y / k_dots_down) * m_width + x / k_dots_across)] |=
        k_dot_bits[y % k_dots_down][x % k_dots_across];
  }

  // Bresenham: every dot between the two, both ends included.
  void line(int x0, int y0, int x1, int y1) {
    const int dx = std::abs(x1 - x0);
    const int dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1;
    const int sy = y0 < y1 ? 1 : -1;
    int error = dx + dy;
    while (true) {
      set(x0, y0);
      if (x0 == x1 && y0 == y1) return;
      const int twice = 2 * error;
      if (twice >= dy) {
        error += dy;
        x0 += sx;
      }
      if (twice <= dx) {
        error += dx;
        y0 += sy;
      }
    }
  }

  std::string row(int cell_row) const {
    std::string out;
    for (int column = 0; column < m_width; ++column) {
      out += utf8(k_braille_blank + m_cells[static_cast<size_t>(cell_row * m_width + column)]);
    }
    return out;
  }

 private:
  int m_width;
  int m_height;
  std::vector<uint8_t> m_cells;
};

}  // namespace

std::vector<std::string> render_chart(const std::vector<ChartPoint>& points, ChartSize size) {
  const int width = std::max(size.width, 4);
  const int height = std::max(size.height, 2);
  std::vector<ChartPoint> finite;
  for (const auto& point : points) {
    if (std::isfinite(point.value) && std::isfinite(point.step)) finite.push_back(point);
  }
  const size_t left_out = points.size() - finite.size();
  if (finite.empty()) {
    return {points.empty() ? "(no points yet)"
                           : fmt::format("(no finite value to draw: {} NaN or infinite)", left_out)};
  }
  const auto [low_it, high_it] = std::minmax_element(
      finite.begin(), finite.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
  double low = low_it->value;
  double high = high_it->value;
  if (high == low) {  // a flat line in the middle
    const double pad = low == 0 ? 1 : std::abs(low) * 0.5;
    low -= pad;
    high += pad;
  }
  const double first_step = finite.front().step;
  const double last_step = finite.back().step;
  const double step_span = last_step > first_step ? last_step - first_step : 1;

  DotGrid grid(width, height);
  const auto x_of = [&](double step) {
    return static_cast<int>(std::lround((step - first_step) / step_span * (grid.dots_across() - 1)));
  };
  const auto y_of = [&](double value) {
    return static_cast<int>(std::lround((high - value) / (high - low) * (grid.dots_down() - 1)));
  };
  int x = x_of(finite.front().step);
  int y = y_of(finite.front().value);
  grid.set(x, y);
  for (size_t i = 1; i < finite.size(); ++i) {
    const int next_x = x_of(finite[i].step);
    const int next_y = y_of(finite[i].value);
    grid.line(x, y, next_x, next_y);
    x = next_x;
    y = next_y;
  }

  const std::string top = label(high);
  const std::string middle = label((high + low) / 2);
  const std::string bottom = label(low);
  const size_t label_width = std::max({top.size(), middle.size(), bottom.size()});
  std::vector<std::string> lines;
  for (int row = 0; row < height; ++row) {
    std::string text;
    if (row == 0) {
      text = top;
    } else if (row == height - 1) {
      text = bottom;
    } else if (row == height / 2) {
      text = middle;
    }
    const bool labelled = !text.empty();
    lines.push_back(fmt::format("{:>{}} {}{}", text, label_width, labelled ? "┤" : "│", grid.row(row)));
  }
  std::string axis = fmt::format("{:>{}} └", "", label_width);
  for (int i = 0; i < width; ++i) axis += "─";
  lines.push_back(std::move(axis));
  const std::string first = label(first_step);
  const std::string last = label(last_step);
  const int gap = std::max(1, width - static_cast<int>(first.size() + last.size()));
  lines.push_back(fmt::format("{:>{}}  {}{:>{}}", "", label_width, first, last,
                              gap + static_cast<int>(last.size())));
  if (left_out > 0) {
    lines.push_back(fmt::format("{:>{}}  ({} NaN or infinite value{} not drawn)", "", label_width,
                                left_out, left_out == 1 ? "" : "s"));
  }
  return lines;
}

}  // namespace trainctl::cli
