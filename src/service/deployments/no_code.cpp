#include "no_code.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <vector>

namespace trainctl::service::deployments {

namespace {

namespace fs = std::filesystem;

struct FileRule {
  std::string_view framework;
  std::vector<std::string_view> top_names;  // preferred, at the top of the version
  std::vector<std::string_view> suffixes;   // otherwise the one file ending so
  std::string_view saved_with;              // how such a file is made, for the messages
};

const std::array k_rules{
    FileRule{"sklearn",
             {"model.pkl", "model.pickle", "model.joblib"},
             {".pkl", ".pickle", ".joblib"},
             "pickle or joblib"},
    FileRule{"pytorch", {"model.pt", "model.pth"}, {".pt", ".pth"}, "torch.jit.save"},
};

constexpr std::string_view k_use_a_script =
    "give an entry script (--entry-script) that loads the model instead";

std::string joined(const std::vector<std::string>& items, size_t at_most = 5) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < at_most; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > at_most) out += fmt::format(" and {} more", items.size() - at_most);
  return out;
}

std::string joined(const std::vector<std::string_view>& items, std::string_view last_separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? last_separator : ", ";
    out += items[i];
  }
  return out;
}

bool ends_with_any(std::string_view path, const std::vector<std::string_view>& suffixes) {
  return std::any_of(suffixes.begin(), suffixes.end(), [&](std::string_view suffix) {
    return path.size() > suffix.size() && path.ends_with(suffix) &&
           path[path.size() - suffix.size() - 1] != '/';
  });
}

// ---- zip archives: just enough to list the member names --------------------------------------

constexpr uint32_t k_end_signature = 0x06054b50;    // end of central directory
constexpr uint32_t k_end64_locator = 0x07064b50;    // zip64 end of central directory locator
constexpr uint32_t k_end64_signature = 0x06064b50;  // zip64 end of central directory
constexpr uint32_t k_entry_signature = 0x02014b50;  // central directory file header
constexpr size_t k_end_size = 22;
constexpr size_t k_max_comment = 0xffff;
constexpr uint64_t k_max_directory = uint64_t{64} << 20;  // far more than any model's members

uint64_t little_endian(const std::string& bytes, size_t at, size_t width) {
  uint64_t value = 0;
  for (size_t i = width; i-- > 0;) value = value << 8 | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// `size` bytes of `file` from `offset`; io when the file is shorter.
Result<std::string> read_range(std::ifstream& in, const fs::path& file, uint64_t offset,
                               uint64_t size) {
  std::string bytes(size, '\0');
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size) {
    return fail(ErrorCode::io, "cannot read {} bytes at {} of {}", size, offset,
                file.filename().string());
  }
  return bytes;
}

// The member names of the zip archive `file`; an empty list when it is no zip archive.
Result<std::vector<std::string>> zip_member_names(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code error;
  const uint64_t size = fs::file_size(file, error);
  if (!in || error) return fail(ErrorCode::io, "cannot read {}", file.filename().string());
  if (size < k_end_size) return std::vector<std::string>{};
  const uint64_t tail_size = std::min<uint64_t>(size, k_end_size + k_max_comment);
  auto tail = read_range(in, file, size - tail_size, tail_size);
  if (!tail) return fail(tail.error());
  // The end record is the last signature whose comment runs exactly to the end of the file.
  size_t end = std::string::npos;
  for (size_t at = tail_size - k_end_size + 1; at-- > 0;) {
    if (little_endian(*tail, at, 4) == k_end_signature &&
        at + k_end_size + little_endian(*tail, at + 20, 2) == tail_size) {
      end = at;
      break;
    }
  }
  if (end == std::string::npos) return std::vector<std::string>{};
  uint64_t entries = little_endian(*tail, end + 10, 2);
  uint64_t directory_size = little_endian(*tail, end + 12, 4);
  uint64_t directory_offset = little_endian(*tail, end + 16, 4);
  if (entries == 0xffff || directory_size == 0xffffffff || directory_offset == 0xffffffff) {
    const uint64_t end_offset = size - tail_size + end;
    if (end_offset < 20) return std::vector<std::string>{};
    auto locator = read_range(in, file, end_offset - 20, 20);
    if (!locator) return fail(locator.error());
    if (little_endian(*locator, 0, 4) != k_end64_locator) return std::vector<std::string>{};
    const uint64_t end64_offset = little_endian(*locator, 8, 8);
    if (end64_offset > size || size - end64_offset < 56) return std::vector<std::string>{};
    auto end64 = read_range(in, file, end64_offset, 56);
    if (!end64) return fail(end64.error());
    if (little_endian(*end64, 0, 4) != k_end64_signature) return std::vector<std::string>{};
    entries = little_endian(*end64, 32, 8);
    directory_size = little_endian(*end64, 40, 8);
    directory_offset = little_endian(*end64, 48, 8);
  }
  if (directory_size > k_max_directory || directory_offset > size ||
      size - directory_offset < directory_size) {
    return std::vector<std::string>{};
  }
  auto directory = read_range(in, file, directory_offset, directory_size);
  if (!directory) return fail(directory.error());
  std::vector<std::string> names;
  for (size_t at = 0; names.size() < entries && at + 46 <= directory->size();) {
    if (little_endian(*directory, at, 4) != k_entry_signature) break;
    const size_t name_size = little_endian(*directory, at + 28, 2);
    const size_t extra_size = little_endian(*directory, at + 30, 2);
    const size_t comment_size = little_endian(*directory, at + 32, 2);
    if (at + 46 + name_size > directory->size()) break;
    names.push_back(directory->substr(at + 46, name_size));
    at += 46 + name_size + extra_size + comment_size;
  }
  return names;
}

}  // namespace

Result<std::string> no_code_model_file(std::string_view model, std::string_view framework,
                                       const nlohmann::json& files) {
  const auto rule = std::find_if(k_rules.begin(), k_rules.end(),
                                 [&](const FileRule& r) { return r.framework == framework; });
  if (rule == k_rules.end()) {
    return fail(ErrorCode::invalid_argument,
                "model {} is registered with framework {}, and a deployment without an entry "
                "script serves sklearn and pytorch models only: {}, or register the model with "
                "--framework sklearn or pytorch",
                model, framework, k_use_a_script);
  }
  std::vector<std::string> top;
  std::vector<std::string> matching;
  for (const auto& file : files) {
    const std::string path = file.value("path", "");
    if (std::find(rule->top_names.begin(), rule->top_names.end(), path) != rule->top_names.end()) {
      top.push_back(path);
    }
    if (ends_with_any(path, rule->suffixes)) matching.push_back(path);
  }
  if (top.size() == 1) return top.front();
  if (top.empty() && matching.size() == 1) return matching.front();
  const std::string suffixes = joined(rule->suffixes, " or ");
  if (matching.empty()) {
    return fail(ErrorCode::invalid_argument,
                "model {} ({}) has no {} file to serve without an entry script: register the "
                "file the model was saved to with {}, or {}",
                model, framework, suffixes, rule->saved_with, k_use_a_script);
  }
  return fail(ErrorCode::invalid_argument,
              "model {} ({}) has several {} files ({}), so a deployment without an entry script "
              "cannot tell which to serve: register the model with one file named {} at its top, "
              "or {}",
              model, framework, suffixes, joined(top.size() > 1 ? top : matching),
              joined(rule->top_names, " or "), k_use_a_script);
}

Result<bool> is_torchscript_archive(const fs::path& file) {
  auto names = zip_member_names(file);
  if (!names) return fail(names.error());
  return std::any_of(names->begin(), names->end(), [](const std::string& name) {
    const auto slash = name.find('/');
    return slash != std::string::npos && slash > 0 &&
           std::string_view(name).substr(slash) == "/constants.pkl";
  });
}

Result<NoCodeScoring> plan_no_code_scoring(const ModelVersionRecord& version,
                                           const BlobStore& blobs) {
  const std::string model = fmt::format("{}:{}", version.name, version.version);
  auto file = no_code_model_file(model, version.framework, version.files);
  if (!file) return fail(file.error());
  if (version.framework == "pytorch") {
    const auto entry = std::find_if(version.files.begin(), version.files.end(),
                                    [&](const auto& f) { return f.value("path", "") == *file; });
    auto torchscript = is_torchscript_archive(blobs.path_of(entry->value("sha256", "")));
    if (!torchscript) {
      return fail(ErrorCode::io, "model {}: cannot read {}: {}", model, *file,
                  torchscript.error().message);
    }
    if (!*torchscript) {
      return fail(ErrorCode::invalid_argument,
                  "model {} (pytorch): {} is not TorchScript, and a state dict or a pickled "
                  "module cannot be loaded without its Python class: save the model with "
                  "torch.jit.script(model).save(\"{}\") (or torch.jit.trace) and register it "
                  "again, or give an entry script (--entry-script) that builds the module and "
                  "loads the file",
                  model, *file, fs::path(*file).filename().string());
    }
  }
  return NoCodeScoring{version.framework, *file};
}

}  // namespace trainctl::service::deployments
