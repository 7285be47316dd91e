// The real SlurmClient (slurm_client.hpp): `sinfo` run with an argv, the target's SLURM_CONF and
// a time limit; its answers read by the parsers of sinfo.hpp.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "captured_program.hpp"
#include "trainctl/service/slurm/sinfo.hpp"
#include "trainctl/service/slurm/slurm_client.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::service::slurm {

namespace {

// sinfo's answer for a big cluster is a line per node; more than this is not read.
constexpr size_t k_max_output = 8u << 20;
// What of sinfo's complaints a message quotes.
constexpr size_t k_max_quoted_error = 1000;

std::string value_of(const Environment& env, std::string_view name) {
  for (const auto& [key, value] : env) {
    if (key == name) return value;
  }
  return {};
}

std::string format_duration(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return fmt::format("{} s", duration.count() / 1000);
  return fmt::format("{} ms", duration.count());
}

// sinfo's complaint as one line: its stderr (else stdout) with its lines joined by "; ".
std::string complaint_of(const CapturedOutput& output) {
  const std::string& text = output.err.empty() ? output.out : output.err;
  std::string joined;
  for (const auto line : util::split(text, '\n')) {
    if (line.empty()) continue;
    if (!joined.empty()) joined += "; ";
    joined.append(line);
  }
  if (joined.size() > k_max_quoted_error) joined = joined.substr(0, k_max_quoted_error) + "...";
  return joined.empty() ? fmt::format("sinfo exited with status {}", output.status) : joined;
}

class SlurmCli final : public SlurmClient {
 public:
  explicit SlurmCli(SlurmCliOptions options) : m_env(std::move(options.env)) {
    if (value_of(m_env, "SLURM_CONF").empty()) {
      if (const char* conf = std::getenv("SLURM_CONF"); conf != nullptr && *conf != '\0') {
        m_env.emplace_back("SLURM_CONF", conf);
      }
    }
  }

  Result<std::vector<Partition>> partitions(const SlurmSettings& settings,
                                            std::chrono::milliseconds timeout) override {
    auto sinfo = find_sinfo();
    if (!sinfo) return fail(sinfo.error());
    auto output = ask(partitions_command(*sinfo), settings, timeout);
    if (!output) return fail(output.error());
    return parse_partitions(*output);
  }

  Result<std::vector<Node>> nodes(const SlurmSettings& settings, const std::string& partition,
                                  std::chrono::milliseconds timeout) override {
    auto sinfo = find_sinfo();
    if (!sinfo) return fail(sinfo.error());
    auto output = ask(nodes_command(*sinfo, partition), settings, timeout);
    if (!output) return fail(output.error());
    return parse_nodes(*output);
  }

 private:
  Result<std::string> find_sinfo() const {
    const auto found = util::find_in_path("sinfo", value_of(m_env, "PATH"));
    if (found.empty()) {
      return fail(ErrorCode::not_found,
                  "sinfo is not on trainctld's PATH; install Slurm's client commands (Debian: "
                  "slurm-client) where trainctld runs");
    }
    return found.string();
  }

  // sinfo's stdout once it exited 0; otherwise why it could not answer.
  Result<std::string> ask(std::vector<std::string> argv, const SlurmSettings& settings,
                          std::chrono::milliseconds timeout) const {
    if (!settings.conf.empty() && ::access(settings.conf.c_str(), R_OK) != 0) {
      return fail(ErrorCode::not_found, "slurm_conf {} cannot be read by trainctld: {}",
                  settings.conf, std::strerror(errno));
    }
    auto output = run_captured(std::move(argv), command_environment(m_env, settings),
                               std::chrono::steady_clock::now() + timeout, k_max_output);
    if (!output) return fail(output.error());
    if (output->timed_out) {
      return fail(ErrorCode::timeout, "Slurm did not answer within {}{}{}",
                  format_duration(timeout), output->err.empty() ? "" : ": ",
                  output->err.empty() ? "" : complaint_of(*output));
    }
    if (output->status != 0) return fail(ErrorCode::unavailable, "{}", complaint_of(*output));
    return std::move(output->out);
  }

  Environment m_env;
};

}  // namespace

std::unique_ptr<SlurmClient> make_slurm_cli(SlurmCliOptions options) {
  return std::make_unique<SlurmCli>(std::move(options));
}

}  // namespace trainctl::service::slurm
