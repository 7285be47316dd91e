#include "ui_sessions.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "trainctl/util/random.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

template <typename Map, typename ExpiresAt>
void drop_expired(Map& entries, int64_t now, ExpiresAt expires_at) {
  std::erase_if(entries, [&](const auto& entry) { return expires_at(entry.second) <= now; });
}

// Makes room for one more entry: drops the one that ends first when `entries` is full.
template <typename Map, typename ExpiresAt>
void make_room(Map& entries, size_t limit, ExpiresAt expires_at) {
  if (entries.size() < limit) return;
  const auto first_to_end = std::min_element(
      entries.begin(), entries.end(),
      [&](const auto& a, const auto& b) { return expires_at(a.second) < expires_at(b.second); });
  entries.erase(first_to_end);
}

int64_t code_expiry(int64_t expires_at_ms) { return expires_at_ms; }
int64_t session_expiry(const UiSession& session) { return session.expires_at_ms; }

}  // namespace

bool secrets_equal(std::string_view given, std::string_view expected) {
  return given.size() == expected.size() && !expected.empty() &&
         CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

UiLoginCode UiSessions::issue_code() {
  const int64_t now = util::now_unix_ms();
  UiLoginCode code{util::random_hex(16),
                   now + std::chrono::duration_cast<std::chrono::milliseconds>(k_code_lifetime).count()};
  std::lock_guard lock(m_mutex);
  drop_expired(m_codes, now, code_expiry);
  make_room(m_codes, k_max_codes, code_expiry);
  m_codes.emplace(util::sha256_hex(code.code), code.expires_at_ms);
  return code;
}

bool UiSessions::redeem_code(std::string_view code) {
  if (code.empty()) return false;
  const int64_t now = util::now_unix_ms();
  std::lock_guard lock(m_mutex);
  const auto found = m_codes.find(util::sha256_hex(code));
  if (found == m_codes.end()) return false;
  const bool live = found->second > now;
  m_codes.erase(found);
  return live;
}

UiSession UiSessions::open_session() {
  const int64_t now = util::now_unix_ms();
  UiSession session{util::random_hex(32), util::random_hex(16),
                    now + std::chrono::duration_cast<std::chrono::milliseconds>(k_session_lifetime).count()};
  std::lock_guard lock(m_mutex);
  drop_expired(m_sessions, now, session_expiry);
  make_room(m_sessions, k_max_sessions, session_expiry);
  m_sessions.emplace(util::sha256_hex(session.id), session);
  return session;
}

std::optional<UiSession> UiSessions::find(std::string_view id) {
  if (id.empty()) return std::nullopt;
  const auto key = util::sha256_hex(id);
  std::lock_guard lock(m_mutex);
  const auto found = m_sessions.find(key);
  if (found == m_sessions.end()) return std::nullopt;
  if (found->second.expires_at_ms <= util::now_unix_ms()) {
    m_sessions.erase(found);
    return std::nullopt;
  }
  return found->second;
}

void UiSessions::close(std::string_view id) {
  const auto key = util::sha256_hex(id);
  std::lock_guard lock(m_mutex);
  m_sessions.erase(key);
}

}  // namespace trainctl::service::handlers
