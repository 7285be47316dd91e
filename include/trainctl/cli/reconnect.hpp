#pragma once
// How a follower (`logs -f`, `run wait`) rides out a trainctld that restarts or is busy: it asks
// again after a delay instead of failing. The delay is the service's Retry-After when it gave one,
// else 250 ms doubling up to 5 s; the follower gives up once it has waited `patience` in all
// without an answer.
#include <chrono>
#include <functional>
#include <string>

#include "trainctl/util/error.hpp"

namespace trainctl::cli {

class Reconnect {
 public:
  using Sleep = std::function<void(std::chrono::milliseconds)>;
  // Called once per outage with the error that began it (e.g. a notice to the user).
  using OnOutage = std::function<void(const Error&)>;

  // `sleep` defaults to sleeping in slices that end early on Ctrl-C (InterruptScope).
  explicit Reconnect(std::chrono::milliseconds patience = k_default_patience, Sleep sleep = {},
                     OnOutage on_outage = {});

  // Whether `error` is worth waiting out: the service cannot be reached, dropped the connection,
  // or is busy (unavailable, too_many_requests).
  static bool is_transient(const Error& error);

  // After a transient `error`: waits the next delay and returns true; false, without waiting,
  // once `patience` is used up (the caller then fails with the error).
  bool wait(const Error& error);

  // The service answered: the next outage starts from the shortest delay and full patience.
  void reset();

  static constexpr std::chrono::milliseconds k_default_patience{120'000};
  static constexpr std::chrono::milliseconds k_first_delay{250};
  static constexpr std::chrono::milliseconds k_longest_delay{5000};

 private:
  std::chrono::milliseconds m_patience;
  Sleep m_sleep;
  OnOutage m_on_outage;
  std::chrono::milliseconds m_next_delay = k_first_delay;
  std::chrono::milliseconds m_waited{0};
  bool m_in_outage = false;
};

}  // namespace trainctl::cli
