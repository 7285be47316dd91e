#pragma once
// The CLI's configuration, layered in one place:
//   defaults < /etc/trainctl/config.yaml < $XDG_CONFIG_HOME/trainctl/config.yaml (default
//   ~/.config) < the nearest .trainctl.yaml walking up from the cwd < TRAINCTL_* environment <
//   flags.
// Every key is one row of one table (config.cpp); the environment and the file system roots are
// injected so that the precedence is unit-tested.
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::config {

struct Config {
  std::string endpoint;  // empty: the local service recorded in `home`
  std::string endpoint_origin;  // the layer that set `endpoint`, as output_origin
  std::string token;     // empty with no endpoint: read from <home>/token
  std::string workspace = "default";
  std::string output = "table";  // an -o value (cli/printer.hpp checks it)
  std::string output_origin;     // the layer that set `output` ("the environment", a file); "" default
  std::filesystem::path home;           // TRAINCTL_HOME; default $XDG_DATA_HOME/trainctl
  std::filesystem::path server_binary;  // empty: trainctld next to this binary, else PATH
  std::filesystem::path cache_dir;      // not a key: $XDG_CACHE_HOME/trainctl (default ~/.cache)
};

// Reads one environment variable; std::nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct ConfigSources {
  EnvironmentLookup getenv;
  std::filesystem::path system_file = "/etc/trainctl/config.yaml";
  std::filesystem::path cwd;  // where the walk up for .trainctl.yaml starts
};

// The real process environment, /etc/trainctl/config.yaml and the current directory.
ConfigSources process_sources();

// Values given as flags, by key name (e.g. {"workspace", "ws1"}); the highest layer.
using FlagValues = std::map<std::string, std::string>;

// The configuration the layers above produce. A config file that is not a mapping of known keys
// to scalars fails with ErrorCode::usage naming the file (and "did you mean ..." for a near miss);
// so does a project's .trainctl.yaml that sets a key only the machine's or the user's file, the
// environment or a flag may set (server_binary, token, home), naming the key, the line and those
// places. `output` is taken as it is; `output_origin` says which layer set it, for the CLI's
// message when it is no output format.
Result<Config> load_config(const ConfigSources& sources, const FlagValues& flags = {});

// Whether `config.endpoint` is one the CLI can use: empty (the local service), or an http:// or
// https:// URL. Otherwise ErrorCode::usage naming the value and the layer that set it. Checked by
// the CLI before any command runs, not by load_config: trainctld reads the same layers for its
// home and has no use for the endpoint.
Result<void> check_endpoint(const Config& config);

// The home of the local service (`home`) as the layers above resolve it: the one resolution the
// CLI and trainctld (without --home) share. Fails as load_config does.
Result<std::filesystem::path> resolve_home(const ConfigSources& sources);

// The config file layers in precedence order (lowest first) that exist for `sources`.
std::vector<std::filesystem::path> config_files(const ConfigSources& sources);

// Every key name, in table order (for help texts and did-you-mean).
std::vector<std::string> key_names();

}  // namespace trainctl::config
