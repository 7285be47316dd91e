#include "trainctl/service/process_tree.hpp"

#include <dirent.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "trainctl/util/fs.hpp"

namespace trainctl::service {

namespace {

constexpr size_t k_stat_max_size = 4096;

std::optional<pid_t> parse_pid(std::string_view text) {
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (error != std::errc{} || end != text.data() + text.size() || pid <= 0) return std::nullopt;
  return pid;
}

// Parses /proc/<pid>/stat: "pid (comm) state ppid ... starttime ..." where comm may hold spaces
// and parentheses, so the fields are counted from the last ')'.
std::optional<ProcessInfo> parse_stat(pid_t pid, std::string_view stat) {
  const size_t comm_end = stat.rfind(')');
  if (comm_end == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  size_t position = comm_end + 1;
  while (position < stat.size() && fields.size() < 20) {
    const size_t start = stat.find_first_not_of(' ', position);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(stat.find(' ', start), stat.size());
    fields.push_back(stat.substr(start, end - start));
    position = end;
  }
  if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
  ProcessInfo info;
  info.identity.pid = pid;
  info.state = fields[0][0];
  const auto parent = fields[1];
  std::from_chars(parent.data(), parent.data() + parent.size(), info.parent);
  const auto start_time = fields[19];  // field 22
  const auto [end, error] = std::from_chars(
      start_time.data(), start_time.data() + start_time.size(), info.identity.start_time);
  if (error != std::errc{}) return std::nullopt;
  return info;
}

}  // namespace

std::optional<ProcessInfo> read_process_info(pid_t pid) {
  const auto stat = util::read_file(fmt::format("/proc/{}/stat", pid), k_stat_max_size);
  if (!stat) return std::nullopt;
  return parse_stat(pid, *stat);
}

std::optional<ProcessIdentity> identify_process(pid_t pid) {
  const auto info = read_process_info(pid);
  if (!info) return std::nullopt;
  return info->identity;
}

bool is_running(const ProcessIdentity& identity) {
  if (identity.pid <= 0) return false;
  const auto info = read_process_info(identity.pid);
  return info && info->identity == identity && !info->is_zombie();
}

std::vector<pid_t> processes_with_environment_entry(std::string_view entry) {
  std::vector<pid_t> found;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* item = ::readdir(proc)) {
    const auto pid = parse_pid(item->d_name);
    if (!pid) continue;
    std::ifstream environ(fmt::format("/proc/{}/environ", *pid), std::ios::binary);
    std::string variable;
    while (std::getline(environ, variable, '\0')) {
      if (variable == entry) {
        found.push_back(*pid);
        break;
      }
    }
  }
  ::closedir(proc);
  return found;
}

std::vector<pid_t> descendants_of(pid_t root) {
  std::unordered_multimap<pid_t, pid_t> children;  // parent -> child
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {};
  while (const dirent* entry = ::readdir(proc)) {
    const auto pid = parse_pid(entry->d_name);
    if (!pid) continue;
    const auto info = read_process_info(*pid);
    if (info) children.emplace(info->parent, *pid);
  }
  ::closedir(proc);

  std::vector<pid_t> descendants;
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    const auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      descendants.push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return descendants;
}

std::string current_boot_id() {
  auto text = util::read_file("/proc/sys/kernel/random/boot_id", 256);
  if (!text) return {};
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return *text;
}

}  // namespace trainctl::service
