#pragma once
// The progress line of a transfer, for a terminal's stderr:
//   "uploading [#########                     ] 1.5 MiB/4.0 MiB  2.1 MiB/s"
// redrawn in place at most every k_redraw_interval and erased when the transfer ends, so a
// terminal is not flooded and the line leaves nothing behind. Disabled (stderr is not a terminal,
// or -q), it writes nothing at all.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string_view>

namespace trainctl::cli {

class ProgressReporter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::chrono::milliseconds k_redraw_interval{100};

  ProgressReporter(std::ostream& err, bool enabled, Clock clock = std::chrono::steady_clock::now);

  void set_enabled(bool enabled) { m_enabled = enabled; }

  // `done` of `total` bytes of the transfer named `label`. The first update of a transfer (and
  // the first after erase()) draws; later ones draw once k_redraw_interval has passed since the
  // last drawing. The rate counts the bytes since the transfer's first update, so a resumed
  // download is not credited with the bytes it already had. A total of 0 draws nothing.
  void update(std::string_view label, uint64_t done, uint64_t total);
  // Erases the line, if drawn, so other output can take its place; the transfer goes on.
  void erase();
  // Erases the line; the next update starts a new transfer.
  void finish();

 private:
  std::ostream& m_err;
  bool m_enabled = false;
  Clock m_clock;
  bool m_drawn = false;
  bool m_started = false;
  std::chrono::steady_clock::time_point m_start;
  std::chrono::steady_clock::time_point m_last_draw;
  uint64_t m_start_done = 0;
};

}  // namespace trainctl::cli
