#include "trainctl/config/config.hpp"

#include <array>
#include <cstdlib>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::config {

namespace {

namespace fs = std::filesystem;

constexpr size_t k_max_config_bytes = 64u << 10;
constexpr std::array<std::string_view, 5> k_output_formats{"table", "wide", "json", "yaml", "name"};

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
};

// The one key table: name, environment variable, and where the value goes. Paths in a config file
// are relative to that file's folder; in the environment or a flag, to the current directory.
constexpr std::array k_keys{
    KeyRow{"endpoint", "TRAINCTL_ENDPOINT",
           [](Config& c, const std::string& v, const fs::path&) { c.endpoint = v; }},
    KeyRow{"token", "TRAINCTL_TOKEN",
           [](Config& c, const std::string& v, const fs::path&) { c.token = v; }},
    KeyRow{"workspace", "TRAINCTL_WORKSPACE",
           [](Config& c, const std::string& v, const fs::path&) { c.workspace = v; }},
    KeyRow{"output", "TRAINCTL_OUTPUT",
           [](Config& c, const std::string& v, const fs::path&) { c.output = v; }},
    KeyRow{
        "home", "TRAINCTL_HOME",
        [](Config& c, const std::string& v, const fs::path& base) { set_path(c.home, v, base); }},
    KeyRow{"server_binary", "TRAINCTL_SERVER_BINARY",
           [](Config& c, const std::string& v, const fs::path& base) {
             set_path(c.server_binary, v, base);
           }},
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

Result<Layer> read_file_layer(const fs::path& file) {
  auto text = util::read_file(file, k_max_config_bytes);
  if (!text) return fail(file_error(file, text.error().message));
  Layer layer{file.string(), file.parent_path(), {}};
  try {
    const YAML::Node root = YAML::Load(*text);
    if (root.IsNull()) return layer;
    if (!root.IsMap()) return fail(file_error(file, "expected a mapping of keys to values"));
    for (const auto& entry : root) {
      const auto key = entry.first.as<std::string>();
      const KeyRow* row = find_key(key);
      if (row == nullptr) {
        const auto mark = entry.first.Mark();
        return fail(
            file_error(file, fmt::format("line {}: {}", mark.line + 1, unknown_key_message(key))));
      }
      if (!entry.second.IsScalar()) {
        return fail(file_error(file, fmt::format("\"{}\" must be a string", key)));
      }
      layer.values.emplace_back(row, entry.second.as<std::string>());
    }
  } catch (const YAML::Exception& e) {
    return fail(file_error(file, e.what()));
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

Result<void> check_output(const std::string& value, const std::string& origin) {
  for (auto format : k_output_formats) {
    if (format == value) return {};
  }
  return fail(ErrorCode::usage, "invalid output format \"{}\" from {} (expected one of: {})", value,
              origin, fmt::join(k_output_formats, ", "));
}

Result<void> apply(Config& config, const Layer& layer) {
  for (const auto& [row, value] : layer.values) {
    if (row->name == "output") {
      if (auto ok = check_output(value, layer.origin); !ok) return ok;
    }
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

std::vector<fs::path> config_files(const ConfigSources& sources) {
  std::vector<fs::path> candidates{
      sources.system_file,
      xdg_dir(sources.getenv, "XDG_CONFIG_HOME", ".config") / "trainctl" / "config.yaml"};
  if (auto project = nearest_project_file(sources.cwd)) candidates.push_back(*project);
  std::vector<fs::path> files;
  for (auto& file : candidates) {
    std::error_code ignored;
    if (!file.empty() && fs::exists(file, ignored)) files.push_back(std::move(file));
  }
  return files;
}

Result<Config> load_config(const ConfigSources& sources, const FlagValues& flags) {
  Config config = defaults(sources.getenv);
  for (const auto& file : config_files(sources)) {
    auto layer = read_file_layer(file);
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
