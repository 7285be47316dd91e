#pragma once
// The web UI's logins: one-time login codes and browser sessions, kept in memory (a restart of
// the service logs every browser out). Thread-safe.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace trainctl::service::handlers {

struct UiLoginCode {
  std::string code;  // 32 hex digits
  int64_t expires_at_ms = 0;
};

struct UiSession {
  std::string id;          // the cookie's value: 64 hex digits
  std::string csrf_token;  // what a state-changing request must send in X-CSRF-Token
  int64_t expires_at_ms = 0;
};

class UiSessions {
 public:
  // A code lives this long and is good for one login.
  static constexpr std::chrono::seconds k_code_lifetime{120};
  // A session ends this long after it was made.
  static constexpr std::chrono::hours k_session_lifetime{12};
  // At most this many codes and sessions are kept; past it the one that ends first is dropped.
  static constexpr size_t k_max_codes = 100;
  static constexpr size_t k_max_sessions = 1000;

  UiLoginCode issue_code();
  // Consumes the code: true once for a code issued and not expired, false ever after.
  bool redeem_code(std::string_view code);
  UiSession open_session();
  // The live session whose id is `id`; nullopt for an unknown or expired one.
  std::optional<UiSession> find(std::string_view id);
  void close(std::string_view id);

 private:
  // Entries are keyed by the SHA-256 of their secret, so a lookup's timing says nothing of it.
  std::mutex m_mutex;
  std::unordered_map<std::string, int64_t> m_codes;  // hash -> expires_at_ms
  std::unordered_map<std::string, UiSession> m_sessions;  // hash of the id -> session
};

// Whether `given` equals `expected`, compared in constant time.
bool secrets_equal(std::string_view given, std::string_view expected);

}  // namespace trainctl::service::handlers
