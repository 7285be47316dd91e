#pragma once
// Helpers of the CLI's end-to-end tests: a project folder with a job spec, and the real
// `trainctl` binary run with an isolated environment.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "support/service_fixture.hpp"

namespace trainctl::testing {

// A command's output without its trailing white space (a line end, a padded column).
inline std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// The lines of a command's output that are not empty (ids printed by -o name, one per line).
inline std::vector<std::string> non_empty_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// A project folder: src/main.py with `script`, and job.yaml with `spec_extra` appended.
class Project {
 public:
  Project(const std::string& script, const std::string& spec_extra = {}) {
    std::filesystem::create_directories(m_dir.path() / "src");
    std::ofstream(m_dir.path() / "src/main.py") << script;
    std::ofstream(spec()) << "experiment: e2e\nestimator:\n  source_directory: src\n"
                             "  entry_script: main.py\n"
                          << spec_extra;
  }
  const std::filesystem::path& dir() const { return m_dir.path(); }
  std::string spec() const { return (m_dir.path() / "job.yaml").string(); }

 private:
  TempDir m_dir;
};

using EnvironmentVariables = std::vector<std::pair<std::string, std::string>>;

// The environment of a user with no configuration but `extra`: config, data and cache homes
// in a temp folder, so no real user file is read.
class CliEnvironment {
 public:
  explicit CliEnvironment(EnvironmentVariables extra = {}) : m_env(std::move(extra)) {
    m_env.emplace_back("XDG_CONFIG_HOME", (m_root.path() / "config").string());
    m_env.emplace_back("XDG_CACHE_HOME", (m_root.path() / "cache").string());
    m_env.emplace_back("XDG_DATA_HOME", (m_root.path() / "data").string());
    m_env.emplace_back("NO_COLOR", "1");
  }
  static CliEnvironment for_service(const ServiceFixture& service) {
    return CliEnvironment(EnvironmentVariables{{"TRAINCTL_ENDPOINT", service.endpoint()},
                                               {"TRAINCTL_TOKEN", service.token()}});
  }

  CommandResult run(std::vector<std::string> args, const std::filesystem::path& cwd = {},
                    int timeout_seconds = 120) const {
    return run_with_input(std::move(args), {}, cwd, timeout_seconds);
  }
  // As run, with `input` on standard input.
  CommandResult run_with_input(std::vector<std::string> args, const std::string& input,
                               const std::filesystem::path& cwd = {},
                               int timeout_seconds = 120) const {
    args.insert(args.begin(), TRAINCTL_BINARY);
    return run_command(args, m_env, cwd.empty() ? m_root.path() : cwd, input, timeout_seconds);
  }

 private:
  TempDir m_root;
  EnvironmentVariables m_env;
};

}  // namespace trainctl::testing
