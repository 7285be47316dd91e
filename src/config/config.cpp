#include "trainctl/config/config.hpp"

#include <array>
#include <cstdlib>

#include <fmt/format.h>

#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::config {

namespace {

namespace fs = std::filesystem;

constexpr size_t k_max_config_bytes = 64u << 10;

// How a layer's value lands in a Config field.
using Setter = void (*)(Config&, const std::string& value, const fs::path& base_dir);

void set_path(fs::path& field, const std::string& value, const fs::path& base_dir) {
  const fs::path path(value);
  field = path.is_relative() && !base_dir.empty() ? base_dir / path : path;
}

struct KeyRow {
  std::string_view name;
  std::string_view environment_variable;
  Setter set;
  // Empty: a project's .trainctl.yaml may set the key. Otherwise why it may not: the file comes
  // with a repository, and cloning one must not choose a program to run, a token or the home.
  std::string_view not_in_project_because;
};

// The one key table: name, environment variable, where the value goes, and whether a project file
// may set it. Paths in a config file are relative to that file's folder; in the environment or a
// flag, to the current directory.
constexpr std::array k_keys{
    KeyRow{"endpoint", "TRAINCTL_ENDPOINT",
           [](Config& c, const std::string& v, const fs::path&) { c.endpoint = v; }, ""},
    KeyRow{"token", "TRAINCTL_TOKEN",
           [](Config& c, const std::string& v, const fs::path&) { c.token = v; },
           "a token does not belong in a file that comes with a repository"},
    KeyRow{"workspace", "TRAINCTL_WORKSPACE",
           [](Config& c, const std::string& v, const fs::path&) { c.workspace = v; }, ""},
    KeyRow{"output", "TRAINCTL_OUTPUT",
           [](Config& c, const std::string& v, const fs::path&) { c.output = v; }, ""},
    KeyRow{"home", "TRAINCTL_HOME",
           [](Config& c, const std::string& v, const fs::path& base) { set_path(c.home, v, base); },
           "it chooses where the local service keeps its state and its token"},
    KeyRow{"server_binary", "TRAINCTL_SERVER_BINARY",
           [](Config& c, const std::string& v, const fs::path& base) {
             set_path(c.server_binary, v, base);
           },
           "it names the program trainctl runs"},
};

const KeyRow* find_key(std::string_view name) {
  for (const auto& row : k_keys) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

// One layer's values, by key, and where they came from (for messages).
struct Layer {
  std::string origin;
  fs::path base_dir;
  std::vector<std::pair<const KeyRow*, std::string>> values;
};

std::optional<std::string> non_empty(const EnvironmentLookup& getenv, std::string_view name) {
  auto value = getenv(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

// $<xdg_variable>, else $HOME/<fallback>.
fs::path xdg_dir(const EnvironmentLookup& getenv, std::string_view xdg_variable,
                 std::string_view fallback) {
  if (auto dir = non_empty(getenv, xdg_variable)) return fs::path(*dir);
  return fs::path(non_empty(getenv, "HOME").value_or("/")) / fallback;
}

std::optional<fs::path> nearest_project_file(const fs::path& cwd) {
  if (cwd.empty()) return std::nullopt;
  for (fs::path dir = cwd;; dir = dir.parent_path()) {
    std::error_code ignored;
    if (fs::is_regular_file(dir / ".trainctl.yaml", ignored)) return dir / ".trainctl.yaml";
    if (dir == dir.parent_path()) return std::nullopt;
  }
}

Error file_error(const fs::path& file, const std::string& message) {
  return Error{ErrorCode::usage, fmt::format("invalid config file {}: {}", file.string(), message)};
}

std::string unknown_key_message(const std::string& key) {
  auto message = fmt::format("unknown key \"{}\"", key);
  std::vector<std::string_view> names;
  for (const auto& row : k_keys) names.push_back(row.name);
  if (auto suggestion = util::closest_match(key, names)) {
    message += fmt::format(" (did you mean \"{}\"?)", *suggestion);
  }
  return message + fmt::format("; known keys: {}", fmt::join(key_names(), ", "));
}

// The user's config file: $XDG_CONFIG_HOME/trainctl/config.yaml, else ~/.config/...
fs::path user_file(const ConfigSources& sources) {
  return xdg_dir(sources.getenv, "XDG_CONFIG_HOME", ".config") / "trainctl" / "config.yaml";
}

// Why `row` cannot come from a project file, and where it can be set instead.
std::string not_in_project_message(const KeyRow& row, const ConfigSources& sources) {
  return fmt::format(
      "\"{}\" cannot be set in a project's .trainctl.yaml ({}); set it in {} or {}, or with {}",
      row.name, row.not_in_project_because, user_file(sources).string(),
      sources.system_file.string(), row.environment_variable);
}

// Which layer a config file is: a project's (the nearest .trainctl.yaml) may set fewer keys.
enum class FileScope { machine_or_user, project };

Result<Layer> read_file_layer(const fs::path& file, FileScope scope, const ConfigSources& sources) {
  auto text = util::read_file(file, k_max_config_bytes);
  if (!text) return fail(file_error(file, text.error().message));
  Layer layer{file.string(), file.parent_path(), {}};
  // Read as job specs are, with their limits and refusals (aliases, tags, duplicate keys).
  auto root = spec::parse_yaml_document(*text, file.string());
  if (!root) {
    const auto& details = root.error().details;
    if (details.empty()) return fail(file_error(file, root.error().message));
    const ErrorDetail& first = details.front();
    return fail(file_error(file, fmt::format("line {}, column {}: {}", first.line, first.column,
                                             first.message)));
  }
  if (root->is_null()) return layer;
  if (!root->is_mapping()) return fail(file_error(file, "expected a mapping of keys to values"));
  for (const auto& [key_node, value] : root->entries) {
    const std::string& key = key_node.text;
    const KeyRow* row = find_key(key);
    if (row == nullptr) {
      return fail(file_error(file, fmt::format("line {}: {}", key_node.mark.line,
                                               unknown_key_message(key))));
    }
    if (scope == FileScope::project && !row->not_in_project_because.empty()) {
      return fail(file_error(file, fmt::format("line {}: {}", key_node.mark.line,
                                               not_in_project_message(*row, sources))));
    }
    if (!value.is_scalar()) {
      return fail(file_error(file, fmt::format("\"{}\" must be a string", key)));
    }
    layer.values.emplace_back(row, value.text);
  }
  return layer;
}

Layer environment_layer(const EnvironmentLookup& getenv) {
  Layer layer{"the environment", {}, {}};
  for (const auto& row : k_keys) {
    if (auto value = non_empty(getenv, row.environment_variable)) {
      layer.values.emplace_back(&row, *value);
    }
  }
  return layer;
}

Result<Layer> flag_layer(const FlagValues& flags) {
  Layer layer{"the command line", {}, {}};
  for (const auto& [key, value] : flags) {
    const KeyRow* row = find_key(key);
    if (row == nullptr) return fail(ErrorCode::internal, "no config key {}", key);
    layer.values.emplace_back(row, value);
  }
  return layer;
}

Result<void> apply(Config& config, const Layer& layer) {
  for (const auto& [row, value] : layer.values) {
    // The CLI's printer owns the list of output formats and checks the value; it names the
    // layer that set it when the value is not one.
    if (row->name == "output") config.output_origin = layer.origin;
    if (row->name == "endpoint") config.endpoint_origin = layer.origin;
    row->set(config, value, layer.base_dir);
  }
  return {};
}

Config defaults(const EnvironmentLookup& getenv) {
  Config config;
  config.home = xdg_dir(getenv, "XDG_DATA_HOME", ".local/share") / "trainctl";
  config.cache_dir = xdg_dir(getenv, "XDG_CACHE_HOME", ".cache") / "trainctl";
  return config;
}

}  // namespace

ConfigSources process_sources() {
  ConfigSources sources;
  sources.getenv = [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  std::error_code ignored;
  sources.cwd = fs::current_path(ignored);
  return sources;
}

std::vector<std::string> key_names() {
  std::vector<std::string> names;
  for (const auto& row : k_keys) names.emplace_back(row.name);
  return names;
}

namespace {

struct ConfigFile {
  fs::path path;
  FileScope scope;
};

// The config files that exist, lowest layer first, each with its scope.
std::vector<ConfigFile> existing_config_files(const ConfigSources& sources) {
  std::vector<ConfigFile> candidates{{sources.system_file, FileScope::machine_or_user},
                                     {user_file(sources), FileScope::machine_or_user}};
  if (auto project = nearest_project_file(sources.cwd)) {
    candidates.push_back({*project, FileScope::project});
  }
  std::vector<ConfigFile> files;
  for (auto& file : candidates) {
    std::error_code ignored;
    if (!file.path.empty() && fs::exists(file.path, ignored)) files.push_back(std::move(file));
  }
  return files;
}

}  // namespace

std::vector<fs::path> config_files(const ConfigSources& sources) {
  std::vector<fs::path> paths;
  for (auto& file : existing_config_files(sources)) paths.push_back(std::move(file.path));
  return paths;
}

Result<void> check_endpoint(const Config& config) {
  const std::string_view endpoint = config.endpoint;
  const auto has_scheme = [&](std::string_view scheme) {
    return endpoint.size() > scheme.size() && util::starts_with_ignore_case(endpoint, scheme);
  };
  if (endpoint.empty() || has_scheme("http://") || has_scheme("https://")) return {};
  return fail(ErrorCode::usage,
              "endpoint \"{}\" (from {}) is not an http:// or https:// URL, e.g. "
              "http://10.0.0.5:7070; leave it empty for the local service",
              endpoint, config.endpoint_origin);
}

Result<Config> load_config(const ConfigSources& sources, const FlagValues& flags) {
  Config config = defaults(sources.getenv);
  for (const auto& [file, scope] : existing_config_files(sources)) {
    auto layer = read_file_layer(file, scope, sources);
    if (!layer) return fail(layer.error());
    if (auto ok = apply(config, *layer); !ok) return fail(ok.error());
  }
  if (auto ok = apply(config, environment_layer(sources.getenv)); !ok) return fail(ok.error());
  auto flag_values = flag_layer(flags);
  if (!flag_values) return fail(flag_values.error());
  if (auto ok = apply(config, *flag_values); !ok) return fail(ok.error());
  return config;
}

}  // namespace trainctl::config

namespace trainctl::config {

Result<std::filesystem::path> resolve_home(const ConfigSources& sources) {
  auto config = load_config(sources);
  if (!config) return fail(config.error());
  return config->home;
}

}  // namespace trainctl::config
