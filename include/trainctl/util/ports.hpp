#pragma once
// Free TCP ports on the loopback interface, for the addresses a distributed run's tasks listen on.
#include <cstddef>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::util {

// `count` distinct ports of 127.0.0.1 that were free when asked: each is bound to port 0 and
// held until all are taken, then released. Another process may take one before the task binds
// it; the window is the time between planning and the task's start. io error when the system
// has none to give.
Result<std::vector<int>> free_loopback_ports(size_t count);

// The same for every address of this host (0.0.0.0): ports a task of a multi-host run can listen
// on for its peers on other hosts.
Result<std::vector<int>> free_ports(size_t count);

}  // namespace trainctl::util
