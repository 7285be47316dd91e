#pragma once
// How the ApiClient's files (api_client.cpp, api_client_<resource>.cpp) spell request targets
// (private to src/client).
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace trainctl::client::detail {

// Percent-encodes everything but RFC 3986's unreserved characters, so a value is one path
// segment or one query value whatever it holds ('/', '?', '%', '#', spaces, UTF-8).
std::string percent_encode(std::string_view text);

// A '/'-separated relative path with each segment encoded and the separators kept.
std::string encode_path(std::string_view path);

// "?a=1&b=2" from the pairs whose value is not empty; "" when every value is empty.
std::string query_string(std::initializer_list<std::pair<std::string_view, std::string>> pairs);

// "/v1/workspaces/<workspace>", encoded.
std::string workspace_path(const std::string& workspace);

}  // namespace trainctl::client::detail
