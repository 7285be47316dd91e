#pragma once
// Validation of every name and path that crosses the API: no traversal (`..`, absolute paths,
// NUL, backslashes), no control characters, bounded lengths.
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::api {

// A resource name: [A-Za-z0-9][A-Za-z0-9._-]{0,254}. `kind` ("workspace", "run", ...) is used
// in the message. Fails with invalid_argument.
Result<void> validate_name(std::string_view kind, std::string_view name);

// A string handed to a process as an argument or as an environment variable's value: anything
// but NUL, which would end it early at exec. Fails with invalid_argument.
Result<void> validate_process_string(std::string_view value);

// The longest Slurm partition, account or QOS name a compute target may name.
inline constexpr size_t k_max_slurm_name = 64;

// A Slurm partition, account or QOS name as a compute target names it: empty (Slurm's default),
// or [A-Za-z0-9][A-Za-z0-9._-]{0,63}, so that it can never be taken for an option of a Slurm
// command. `field` ("partition", ...) is used in the message. Fails with invalid_argument.
Result<void> validate_slurm_name(std::string_view field, std::string_view name);

// The longest idempotency key a client may give.
inline constexpr size_t k_max_idempotency_key = 255;

// An idempotency key as a client gives it (the CLI's --idempotency-key, the Idempotency-Key
// header): 1-255 printable ASCII characters, no spaces (an HTTP header value loses the spaces
// around it, which would make two keys one). Fails with invalid_argument.
Result<void> validate_idempotency_key(std::string_view key);

// The idempotency key of item `index` (0-based, in request order) of a batch submitted with
// `batch_key`: "<batch_key>/<index>". Distinct for every item of a batch and for every batch
// key, so that a retried batch replays each item it made and makes only what is missing.
std::string batch_item_idempotency_key(std::string_view batch_key, size_t index);

// A lower-case 64-hex-digit SHA-256.
bool is_sha256_hex(std::string_view text);

// A relative path made of '/'-separated components, each non-empty, not "." or "..", at most
// 255 bytes, valid UTF-8 without control characters, NUL or backslash; no leading '/'; at most
// 4096 bytes in all. Returns its components. Fails with invalid_argument naming the problem.
Result<std::vector<std::string>> split_relative_path(std::string_view path);

}  // namespace trainctl::api
