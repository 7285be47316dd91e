#include "trainctl/util/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "trainctl/util/unique_fd.hpp"

namespace trainctl::util {

namespace {

struct BoundPort {
  UniqueFd socket;  // holds the port until released
  int port = 0;
};

// A TCP socket bound to `host` (an IPv4 address in host order) on a port the kernel picks.
// SO_REUSEADDR stays off (the default), so the port is one no other socket is bound to.
Result<BoundPort> bind_free_port(uint32_t host) {
  UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) return fail(ErrorCode::io, "cannot open a TCP socket: {}", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(host);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
      ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return fail(ErrorCode::io, "cannot take a free TCP port: {}", std::strerror(errno));
  }
  return BoundPort{std::move(socket), ntohs(address.sin_port)};
}

Result<std::vector<int>> take_free_ports(uint32_t host, size_t count) {
  std::vector<BoundPort> held;  // every port stays bound until all are taken: they are distinct
  for (size_t i = 0; i < count; ++i) {
    auto bound = bind_free_port(host);
    if (!bound) return fail(std::move(bound.error()));
    held.push_back(std::move(*bound));
  }
  std::vector<int> ports;
  for (const BoundPort& bound : held) ports.push_back(bound.port);
  return ports;
}

}  // namespace

Result<std::vector<int>> free_loopback_ports(size_t count) {
  return take_free_ports(INADDR_LOOPBACK, count);
}

Result<std::vector<int>> free_ports(size_t count) { return take_free_ports(INADDR_ANY, count); }

}  // namespace trainctl::util
