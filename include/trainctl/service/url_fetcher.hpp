#pragma once
// Downloads the files of a dataset made from web URLs (docs/datasets.md): http and https only,
// never to an address the policy forbids (loopback, link-local and cloud metadata, private
// networks, ...; checked on every connection libcurl opens, redirects included, so DNS tricks
// do not help), under a size cap, streamed into the blob store and hashed on the way.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

struct UrlPolicy {
  // Networks allowed although forbidden by default, as CIDR ("127.0.0.0/8", "::1/128"); from
  // trainctld's repeatable --allow-url-network option. Tests allow loopback for their own server.
  std::vector<std::string> allowed_networks;
  uint64_t max_file_bytes = 8ull << 30;  // per URL
  int max_redirects = 5;
  int connect_timeout_seconds = 10;
  int64_t low_speed_seconds = 60;  // aborted when under 1 KiB/s for this long
};

// Validates the policy's CIDRs: invalid_argument naming the bad one.
Result<void> validate_url_policy(const UrlPolicy& policy);

// Checks a URL before anything is fetched: scheme http or https, a host, no user:password, a
// file name for it (the last path segment, percent-decoded, a valid relative path component:
// never from Content-Disposition). invalid_argument with a message for the user otherwise.
// Returns the file name.
Result<std::string> file_name_for_url(const std::string& url);

struct FetchedFile {
  std::string url;
  std::string path;  // file_name_for_url; made unique among the dataset's files by the caller
  std::string sha256;
  uint64_t size = 0;
};

// Downloads `url` into the blob store (insert_blob is the caller's). Errors: invalid_argument for
// a refused URL or target address ("... resolves to 127.0.0.1, a loopback address; trainctld
// allows it with --allow-url-network 127.0.0.0/8"), payload_too_large past the cap,
// unavailable for network failures and HTTP errors (with the status).
Result<FetchedFile> fetch_url(const std::string& url, const UrlPolicy& policy, BlobStore& blobs);

}  // namespace trainctl::service
