#include "trainctl/service/server_config.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "trainctl/util/strings.hpp"

namespace trainctl::service {

namespace {

using nlohmann::json;

// A key as the options name it: '_' and '-' are the same.
std::string option_key(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

bool written(const CLI::Option& option) {
  return option.get_configurable() && !option.get_lnames().empty() && option.count() > 0;
}

json typed(const std::string& text) {
  int64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error == std::errc() && end == text.data() + text.size() && !text.empty()) return number;
  return text;
}

}  // namespace

std::vector<std::string> configurable_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    if (!option->get_configurable() || option->get_lnames().empty()) continue;
    if (option->get_lnames().front() == "help" || option->get_lnames().front() == "version") continue;
    names.push_back(option->get_lnames().front());
  }
  return names;
}

std::vector<CLI::ConfigItem> YamlConfig::from_config(std::istream& input) const {
  std::stringstream text;
  text << input.rdbuf();
  std::vector<CLI::ConfigItem> result;
  try {
    const YAML::Node root = YAML::Load(text.str());
    if (root.IsNull()) return result;
    if (!root.IsMap()) throw CLI::ConfigError("the config file must be a mapping of option names to values");
    for (const auto& entry : root) {
      const auto line = entry.first.Mark().line + 1;
      const auto key = option_key(entry.first.as<std::string>());
      if (std::find(m_known.begin(), m_known.end(), key) == m_known.end()) {
        const std::vector<std::string_view> candidates(m_known.begin(), m_known.end());
        const auto near = util::closest_match(key, candidates);
        throw CLI::ConfigError(fmt::format(
            "config file line {}: unknown key \"{}\"{}; keys are trainctld's options: {}", line, key,
            near ? fmt::format(" (did you mean \"{}\"?)", *near) : std::string(),
            fmt::join(m_known, ", ")));
      }
      CLI::ConfigItem item;
      item.name = key;
      const YAML::Node& value = entry.second;
      if (value.IsSequence()) {
        for (const auto& element : value) {
          if (!element.IsScalar()) {
            throw CLI::ConfigError(fmt::format("config file line {}: \"{}\" takes a list of values", line, key));
          }
          item.inputs.push_back(element.as<std::string>());
        }
      } else if (value.IsScalar()) {
        item.inputs.push_back(value.as<std::string>());
      } else {
        throw CLI::ConfigError(fmt::format("config file line {}: \"{}\" takes a value or a list", line, key));
      }
      result.push_back(std::move(item));
    }
  } catch (const YAML::Exception& error) {
    throw CLI::ConfigError(fmt::format("config file: {}", error.what()));
  }
  return result;
}

std::string YamlConfig::to_config(const CLI::App* app, bool, bool, std::string) const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const CLI::Option* option : app->get_options()) {
    if (!written(*option)) continue;
    const auto& name = option->get_lnames().front();
    if (name == "help" || name == "version") continue;
    out << YAML::Key << name << YAML::Value;
    if (option->get_expected_min() == 0) {
      out << option->as<bool>();
    } else if (option->get_expected_max() > 1) {
      out << YAML::Flow << option->results();
    } else {
      out << option->results().back();
    }
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

json effective_options(const CLI::App& app) {
  json options = json::object();
  for (const auto& name : configurable_names(app)) {
    const CLI::Option* option = app.get_option_no_throw("--" + name);
    if (option == nullptr) continue;
    if (option->get_expected_min() == 0) {
      options[name] = option->count() > 0 && option->as<bool>();
    } else if (option->get_expected_max() > 1) {
      options[name] = option->count() > 0 ? json(option->results()) : json::array();
    } else if (option->count() > 0) {
      options[name] = typed(option->results().back());
    } else {
      options[name] = option->get_default_str().empty() ? json() : typed(option->get_default_str());
    }
  }
  return options;
}

}  // namespace trainctl::service
