#include "trainctl/service/engines/agent_credential.hpp"

#include <openssl/crypto.h>

#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::service::engines {

namespace {

constexpr size_t k_secret_bytes = 32;
constexpr std::string_view k_bearer = "Bearer ";

}  // namespace

Result<std::string> issue_agent_credential(const std::filesystem::path& run_dir, util::Sync sync) {
  std::string secret = util::random_hex(k_secret_bytes);
  if (auto written =
          util::write_file_atomic(run_dir / k_agent_credential_file, util::sha256_hex(secret), 0600, sync);
      !written) {
    return fail(written.error());
  }
  return secret;
}

bool agent_credential_matches(const std::filesystem::path& run_dir, std::string_view authorization) {
  if (!authorization.starts_with(k_bearer)) return false;
  const auto expected = util::read_file(run_dir / k_agent_credential_file, 128);
  if (!expected) return false;
  const std::string presented = util::sha256_hex(authorization.substr(k_bearer.size()));
  return presented.size() == expected->size() &&
         CRYPTO_memcmp(presented.data(), expected->data(), presented.size()) == 0;
}

void revoke_agent_credential(const std::filesystem::path& run_dir) {
  std::error_code error;
  std::filesystem::remove(run_dir / k_agent_credential_file, error);
}

}  // namespace trainctl::service::engines
