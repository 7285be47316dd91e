#include "trainctl/cli/debug_log.hpp"

#include <atomic>
#include <cstdio>

namespace trainctl::cli {

namespace {
std::atomic<bool> g_enabled{false};
}  // namespace

void enable_debug_log(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

bool debug_log_enabled() { return g_enabled.load(std::memory_order_relaxed); }

void write_debug_line(std::string_view line) {
  std::fprintf(stderr, "debug: %.*s\n", static_cast<int>(line.size()), line.data());
}

}  // namespace trainctl::cli
