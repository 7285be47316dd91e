#pragma once
// trainctld's config file: YAML whose keys are trainctld's long options without the dashes
// ("bind: 0.0.0.0", "allow-url-network: [127.0.0.0/8]", "no-auth: true"; '_' may stand for '-').
// It plugs into CLI11 as the app's config formatter, so every option can be set in it, is checked
// as on the command line, and an option given on the command line wins over the file.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace trainctl::service {

class YamlConfig : public CLI::Config {
 public:
  // `known`: the long names the file may use; another key fails naming it (and a near one).
  explicit YamlConfig(std::vector<std::string> known) : m_known(std::move(known)) {}

  // The options of `app` that were given (on the command line or in a file), as YAML; `--config`
  // and the options that are not configurable are left out.
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  std::vector<std::string> m_known;
};

// The long names of `app`'s options a config file may set.
std::vector<std::string> configurable_names(const CLI::App& app);

// Every configurable option's value as the service runs with it (given, from the file, or the
// default): flags as booleans, repeatable options as arrays, whole numbers as numbers.
nlohmann::json effective_options(const CLI::App& app);

}  // namespace trainctl::service
