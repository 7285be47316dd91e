#include "trainctl/cli/completion.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "trainctl/cli/printer.hpp"

namespace trainctl::cli {

namespace {

// The kind of name an argument takes, by its name in the app tree: a positional's name (NAME
// takes its command group's kind), or a long option's.
struct ArgumentKind {
  std::string_view argument;
  std::string_view resource;  // "files": file names
};
constexpr std::array<ArgumentKind, 12> k_argument_kinds{{
    {"RUN", "runs"},
    {"SWEEP", "sweeps"},
    {"DATASET", "datasets"},
    {"MODEL", "models"},
    {"FILE", "files"},
    {"SPEC", "files"},
    {"--workspace", "workspaces"},
    {"--compute", "computes"},
    {"--model", "models"},
    {"--dest", "files"},
    {"--config", "files"},
    {"--from-file", "files"},
}};
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> k_group_kinds{{
    {"compute", "computes"}, {"deploy", "deployments"}, {"workspace", "workspaces"}}};

// Values an option takes from a fixed list.
std::vector<std::string> fixed_values(const CLI::Option& option) {
  const auto& names = option.get_lnames();
  const auto has = [&](std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (has("output")) {
    // The printer's list ("table|...|jsonpath=TEMPLATE|..."), a format that takes a value up to
    // its '='.
    std::vector<std::string> formats;
    const auto list = output_format_names();
    for (size_t start = 0; start <= list.size();) {
      const auto end = std::min(list.find('|', start), list.size());
      const auto format = list.substr(start, end - start);
      formats.push_back(format.substr(0, format.find('=') == std::string::npos ? format.size()
                                                                               : format.find('=') + 1));
      start = end + 1;
    }
    return formats;
  }
  if (has("status")) {
    return {"Queued",    "Preparing", "Starting", "Running",  "Finalizing",
            "CancelRequested", "Completed", "Failed", "Canceled", "TimedOut"};
  }
  return {};
}

std::string kind_of(std::string_view argument, const CLI::App& command) {
  for (const auto& [name, resource] : k_argument_kinds) {
    if (name == argument) return std::string(resource);
  }
  if (argument == "NAME" && command.get_name() != "create" && command.get_parent() != nullptr) {
    for (const auto& [group, resource] : k_group_kinds) {
      if (group == command.get_parent()->get_name()) return std::string(resource);
    }
  }
  return {};
}

const CLI::Option* find_option(const CLI::App* command, const std::string& name) {
  for (; command != nullptr; command = command->get_parent()) {
    if (const auto* option = command->get_option_no_throw(name)) return option;
  }
  return nullptr;
}

bool takes_value(const CLI::Option& option) { return option.get_expected_min() != 0; }

bool is_hidden(const CLI::App& command) { return command.get_group().empty(); }

// The option's kind: by its first long name.
std::string option_kind(const CLI::Option& option, const CLI::App& command) {
  for (const auto& name : option.get_lnames()) {
    if (auto kind = kind_of("--" + name, command); !kind.empty()) return kind;
  }
  return {};
}

void keep_matching(std::vector<std::string>& candidates, std::string_view prefix) {
  std::erase_if(candidates, [&](const std::string& word) { return !word.starts_with(prefix); });
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
}

}  // namespace

Completion complete_words(const CLI::App& app, std::vector<std::string> words) {
  if (words.empty()) words.emplace_back();
  // Bash's "--output" "=" "js" is one word; the candidates complete what follows '='.
  std::vector<std::string> merged;
  bool split_at_equals = false;  // the last word came joined from bash's pieces
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "=" && !merged.empty() && merged.back().starts_with("--") &&
        merged.back().find('=') == std::string::npos) {
      merged.back() += "=";
      if (i + 1 < words.size()) merged.back() += words[++i];
      split_at_equals = i + 1 == words.size();
      continue;
    }
    merged.push_back(words[i]);
    split_at_equals = false;
  }
  words = std::move(merged);

  Completion completion;
  const CLI::App* command = &app;
  size_t positionals = 0;
  bool after_dashes = false;
  const CLI::Option* pending = nullptr;  // an option whose value is the next word
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const auto& word = words[i];
    if (pending != nullptr) {
      if (pending->get_lnames() == std::vector<std::string>{"workspace"}) completion.workspace = word;
      pending = nullptr;
      continue;
    }
    if (!after_dashes && word == "--") {
      after_dashes = true;
      continue;
    }
    if (!after_dashes && word.starts_with("-") && word.size() > 1) {
      const auto equals = word.find('=');
      const auto* option = find_option(command, word.substr(0, equals));
      if (option != nullptr && takes_value(*option)) {
        if (equals == std::string::npos) {
          pending = option;
        } else if (option->get_lnames() == std::vector<std::string>{"workspace"}) {
          completion.workspace = word.substr(equals + 1);
        }
      }
      continue;
    }
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : command->get_subcommands({})) {
      if (sub->check_name(word)) next = sub;
    }
    if (next != nullptr && positionals == 0) {
      command = next;
    } else {
      ++positionals;
    }
  }

  const std::string& current = words.back();
  const auto values_of = [&](const CLI::Option& option, std::string_view typed) {
    completion.prefix = std::string(typed);
    completion.candidates = fixed_values(option);
    const auto kind = option_kind(option, *command);
    if (kind == "files") {
      completion.files = true;
    } else {
      completion.resource = kind;
    }
    keep_matching(completion.candidates, typed);
  };
  if (pending != nullptr) {
    values_of(*pending, current);
    return completion;
  }
  if (!after_dashes && current.starts_with("--") && current.find('=') != std::string::npos) {
    const auto equals = current.find('=');
    if (const auto* option = find_option(command, current.substr(0, equals))) {
      values_of(*option, std::string_view(current).substr(equals + 1));
      if (!split_at_equals) {
        for (auto& candidate : completion.candidates) {
          candidate = current.substr(0, equals + 1) + candidate;
        }
        completion.prefix = current;
      }
    }
    return completion;
  }
  completion.prefix = current;
  if (!after_dashes && current.starts_with("-")) {
    // The command's options and its parents' (the global options reach every command).
    for (const CLI::App* scope = command; scope != nullptr; scope = scope->get_parent()) {
      for (const CLI::Option* option : scope->get_options()) {
        for (const auto& name : option->get_lnames()) completion.candidates.push_back("--" + name);
        if (current.size() <= 2) {
          for (const auto& name : option->get_snames()) completion.candidates.push_back("-" + name);
        }
      }
    }
    keep_matching(completion.candidates, current);
    return completion;
  }
  const auto subcommands = command->get_subcommands({});
  if (!subcommands.empty() && positionals == 0) {
    for (const CLI::App* sub : subcommands) {
      if (!is_hidden(*sub)) completion.candidates.push_back(sub->get_name());
    }
    keep_matching(completion.candidates, current);
    return completion;
  }
  // The command's positional arguments, in order; the last one may repeat (run compare).
  std::vector<const CLI::Option*> arguments;
  for (const CLI::Option* option : command->get_options()) {
    if (option->get_positional() && !option->nonpositional()) arguments.push_back(option);
  }
  if (arguments.empty()) return completion;
  const auto* argument = arguments[std::min(positionals, arguments.size() - 1)];
  if (positionals >= arguments.size() && argument->get_expected_max() <= 1) return completion;
  const auto kind = kind_of(argument->get_name(), *command);
  if (kind == "files") {
    completion.files = true;
  } else {
    completion.resource = kind;
  }
  return completion;
}

Result<std::string> completion_script(std::string_view shell) {
  if (shell == "bash") {
    return std::string(R"(# bash completion for trainctl: source <(trainctl completion bash)
# Generated by `trainctl completion bash`: the candidates come from `trainctl __complete`.
_trainctl() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  [[ "$cur" == "=" ]] && cur=""
  local out
  out=$(command "${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  if [[ "$out" == "__files__" ]]; then
    compopt -o filenames 2>/dev/null
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$out" -- "$cur"))
  if [[ ${#COMPREPLY[@]} -eq 1 && "${COMPREPLY[0]}" == *= ]]; then
    compopt -o nospace 2>/dev/null
  fi
  return 0
}
complete -F _trainctl trainctl
)");
  }
  if (shell == "zsh") {
    return std::string(R"(#compdef trainctl
# zsh completion for trainctl: put it on $fpath as _trainctl, or: source <(trainctl completion zsh)
# Generated by `trainctl completion zsh`: the candidates come from `trainctl __complete`.
_trainctl() {
  local out
  out=$(command ${words[1]} __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  [[ -n "$out" ]] || return 1
  if [[ "$out" == "__files__" ]]; then
    _files
    return
  fi
  local -a candidates
  candidates=("${(@f)out}")
  compadd -Q -S '' -- "${(@)candidates:#*[^=]}"
  compadd -Q -- "${(@)candidates:#*=}"
}
if [[ "$funcstack[1]" == "_trainctl" ]]; then
  _trainctl "$@"
else
  compdef _trainctl trainctl
fi
)");
  }
  if (shell == "fish") {
    return std::string(R"(# fish completion for trainctl: trainctl completion fish | source
# Generated by `trainctl completion fish`: the candidates come from `trainctl __complete`.
function __trainctl_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (command $words[1] __complete -- $words[2..-1] 2>/dev/null)
    if test "$out" = __files__
        __fish_complete_path (commandline -ct)
    else if test (count $out) -gt 0
        printf '%s\n' $out
    end
end
complete -c trainctl -f -a '(__trainctl_complete)'
)");
  }
  return fail(ErrorCode::usage, "completion: no script for shell '{}' (bash, zsh or fish)", shell);
}

}  // namespace trainctl::cli
