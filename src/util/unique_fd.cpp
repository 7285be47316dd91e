#include "trainctl/util/unique_fd.hpp"

#include <unistd.h>

namespace trainctl::util {

void UniqueFd::reset(int fd) {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = fd;
}

}  // namespace trainctl::util
