#pragma once
// The pieces shared by everything the local engine forks (the supervisor, the tasks): owned
// descriptors, a report pipe through which a forked child tells its parent what went wrong
// before exec, and the async-signal-safe setup a child does between fork and exec.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::engines {

using util::UniqueFd;

// Opens `path` close-on-exec; io error naming the path on failure.
Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode = 0644);

// What a forked child reports before it execs: `kind` is the caller's, `value` e.g. an errno.
struct ChildReport {
  int32_t kind = 0;
  int32_t value = 0;
};

// Both ends close on exec, so the parent reads end-of-file once every child holding the write
// end has exec'd or exited.
struct ReportPipe {
  UniqueFd read_end;
  UniqueFd write_end;
};
Result<ReportPipe> make_report_pipe();

// Async-signal-safe: for a forked child.
void send_report(int write_fd, ChildReport report) noexcept;
// Every report until end-of-file.
std::vector<ChildReport> receive_reports(int read_fd);

// Async-signal-safe setup of a forked child before exec: every signal unblocked and at its
// default action, stdin from `stdin_fd`, stdout and stderr to `output_fd`, and every other
// descriptor closed at exec (so no socket or database handle of the service leaks).
void prepare_child_for_exec(int stdin_fd, int output_fd) noexcept;

// NULL-terminated views of `strings` for execve; valid while `strings` lives.
std::vector<char*> exec_array(std::vector<std::string>& strings);

}  // namespace trainctl::service::engines
