#pragma once
// `trainctl dataset create|list|show|download|delete`.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// A dataset reference as typed: NAME, NAME:VERSION (VERSION a number from 1) or NAME@latest.
struct DatasetRef {
  std::string name;
  std::string version;  // "3", "latest", or "" when the reference names no version
};

// Parses a reference strictly: a valid name, then nothing, ":N" or "@latest"; anything else
// (NAME:, NAME:0, NAME:latest, NAME@3, NAME:1:2, ...) is ErrorCode::usage.
Result<DatasetRef> parse_dataset_ref(std::string_view text);

struct DatasetCreateOptions {
  std::string name;
  std::string path;               // a file or directory
  std::vector<std::string> urls;  // http(s) URLs the service downloads
  std::string description;
  std::vector<std::string> tags;  // "key=value"
  bool new_version = false;       // a new version even when the content is the latest's
};

struct DatasetRefOptions {
  std::string ref;  // parse_dataset_ref
};

struct DatasetDownloadOptions {
  std::string ref;
  std::string dest;  // empty: ./NAME
};

struct DatasetDeleteOptions {
  std::string ref;
  bool yes = false;  // no question on a terminal
};

// The name is valid; exactly one of --path and --url; tags are key=value with a non-empty key.
Result<void> validate(const DatasetCreateOptions& options);
Result<void> validate(const DatasetRefOptions& options);
Result<void> validate(const DatasetDownloadOptions& options);
Result<void> validate(const DatasetDeleteOptions& options);

// What `dataset show NAME:VERSION` prints for people: the version's fields and its files.
Description describe_dataset_version(const nlohmann::json& version);

Result<int> run_dataset_create(Session& session, const DatasetCreateOptions& options);
Result<int> run_dataset_list(Session& session);
Result<int> run_dataset_show(Session& session, const DatasetRefOptions& options);
// Every file of the version, verified against the manifest's size and sha256; a file already at
// its destination with the right content is not downloaded again, and a broken-off file resumes.
Result<int> run_dataset_download(Session& session, const DatasetDownloadOptions& options);
// On a terminal without --yes, asks first; elsewhere it asks nothing.
Result<int> run_dataset_delete(Session& session, const DatasetDeleteOptions& options);

}  // namespace trainctl::cli
