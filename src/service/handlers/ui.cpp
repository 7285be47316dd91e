// The web UI: its pages and assets (embedded at build time, public: they hold no data), the login
// that turns the service token or a one-time code into a session cookie, and the route that
// issues one-time codes to holders of the token (docs/ui.md).
#include "ui.hpp"

#include <algorithm>
#include <vector>

#include "trainctl/service/ui_assets.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr std::string_view k_session_cookie = "trainctl_session";

// Only the service's own scripts, styles and API; no inline script or style, no frames, no
// plugins, no other origin.
constexpr std::string_view k_content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";

const UiAsset* find_asset(std::string_view name) {
  const auto assets = ui_assets();
  const auto found = std::find_if(assets.begin(), assets.end(),
                                  [&](const UiAsset& asset) { return asset.name == name; });
  return found == assets.end() ? nullptr : &*found;
}

void set_page_headers(httplib::Response& response) {
  response.set_header("Content-Security-Policy", std::string(k_content_security_policy));
  response.set_header("X-Frame-Options", "DENY");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("Cache-Control", "no-cache");
}

// The entity tag of an asset: a hash of its bytes, made once per asset.
const std::string& asset_etag(const UiAsset& asset) {
  static const std::vector<std::string> k_etags = [] {
    std::vector<std::string> etags;
    for (const UiAsset& each : ui_assets()) {
      etags.push_back("\"" + util::sha256_hex(each.body).substr(0, 32) + "\"");
    }
    return etags;
  }();
  return k_etags[static_cast<size_t>(&asset - ui_assets().data())];
}

// The asset; 304 when the browser's copy (If-None-Match) is this one, so a page load revalidates
// its scripts without sending them again and the browser keeps their compiled code.
httplib::Server::Handler asset_route(std::string_view name) {
  return [name](const httplib::Request& request, httplib::Response& response) {
    const UiAsset* asset = find_asset(name);
    if (asset == nullptr) return send_error(response, Error{ErrorCode::not_found, "no such page"});
    set_page_headers(response);
    const std::string& etag = asset_etag(*asset);
    response.set_header("ETag", etag);
    if (request.get_header_value("If-None-Match") == etag) {
      response.status = 304;
      return;
    }
    response.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type));
  };
}

std::string session_cookie_header(const UiSession& session) {
  return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", k_session_cookie,
                     session.id,
                     std::chrono::duration_cast<std::chrono::seconds>(UiSessions::k_session_lifetime).count());
}

nlohmann::json session_json(const UiSession& session) {
  return {{"csrf_token", session.csrf_token},
          {"expires_at", util::format_rfc3339(session.expires_at_ms)},
          {"auth", true}};
}

}  // namespace

std::string session_cookie(const httplib::Request& request) {
  const auto [first, last] = request.headers.equal_range("Cookie");
  for (auto header = first; header != last; ++header) {
    std::string_view rest = header->second;
    while (!rest.empty()) {
      const size_t end = std::min(rest.find(';'), rest.size());
      std::string_view pair = rest.substr(0, end);
      rest.remove_prefix(std::min(end + 1, rest.size()));
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const size_t equals = pair.find('=');
      if (equals != std::string_view::npos && pair.substr(0, equals) == k_session_cookie) {
        return std::string(pair.substr(equals + 1));
      }
    }
  }
  return {};
}

bool is_public_ui_route(const httplib::Request& request) {
  const std::string& path = request.path;
  if (path == k_ui_session_path) return true;  // the route checks what it is given itself
  if (request.method != "GET" && request.method != "HEAD") return false;
  return path == "/" || path == "/ui" || path == "/ui/" || path == "/ui/login" ||
         (path.starts_with("/ui/assets/") && path.find('/', 11) == std::string::npos);
}

void install_ui_routes(httplib::Server& server, const ServiceContext& context,
                       std::shared_ptr<UiSessions> sessions) {
  const auto to_ui = [](const httplib::Request&, httplib::Response& response) {
    response.set_redirect("/ui/");
  };
  server.Get("/", to_ui);
  server.Get("/ui", to_ui);
  server.Get("/ui/", asset_route("index.html"));
  server.Get("/ui/login", asset_route("login.html"));
  server.Get(R"(/ui/assets/([A-Za-z0-9][A-Za-z0-9._-]*))",
             [](const httplib::Request& request, httplib::Response& response) {
               const std::string name = request.matches[1];
               if (name.ends_with(".html") || find_asset(name) == nullptr) {
                 return send_error(response, Error{ErrorCode::not_found, "no such asset"});
               }
               asset_route(find_asset(name)->name)(request, response);
             });

  // Login: {"code": "..."} (from `trainctl ui`) or {"token": "..."} (the service token) makes a
  // session. A scoring key, or anything else, is 401.
  server.Post(std::string(k_ui_session_path),
              json_body_route(context, [&context, sessions](const httplib::Request&,
                                                            const std::string& body) -> Result<Reply> {
                auto payload = parse_json_object(body);
                if (!payload) return fail(payload.error());
                const auto code = payload->find("code");
                const auto token = payload->find("token");
                bool accepted = false;
                if (code != payload->end() && code->is_string()) {
                  accepted = sessions->redeem_code(code->get<std::string>());
                } else if (token != payload->end() && token->is_string()) {
                  accepted = !context.config.require_auth ||
                             secrets_equal(token->get<std::string>(), context.config.token);
                } else {
                  return fail(ErrorCode::invalid_argument, "send {{\"code\": ...}} or {{\"token\": ...}}");
                }
                if (!accepted) {
                  return fail(ErrorCode::unauthorized,
                              "the login code or token is wrong, used already or expired; run "
                              "`trainctl ui` for a new code");
                }
                const UiSession session = sessions->open_session();
                return Reply{200, session_json(session), {{"Set-Cookie", session_cookie_header(session)}}};
              }));
  // The session of this browser: its CSRF token; 401 without one (the pages then show the login).
  server.Get(std::string(k_ui_session_path),
             json_route([&context, sessions](const httplib::Request& request) -> Result<Reply> {
               if (!context.config.require_auth) {
                 return Reply{200, {{"csrf_token", ""}, {"expires_at", nullptr}, {"auth", false}}, {}};
               }
               const auto session = sessions->find(session_cookie(request));
               if (!session) return fail(ErrorCode::unauthorized, "not logged in");
               return Reply{200, session_json(*session), {}};
             }));
  // Logout. Needs the session's CSRF token, as every state change made with a session does.
  server.Delete(std::string(k_ui_session_path),
                json_route([sessions](const httplib::Request& request) -> Result<Reply> {
                  const std::string id = session_cookie(request);
                  const auto session = sessions->find(id);
                  if (!session) return fail(ErrorCode::unauthorized, "not logged in");
                  if (!secrets_equal(request.get_header_value("X-CSRF-Token"), session->csrf_token)) {
                    return fail(ErrorCode::forbidden, "missing or wrong X-CSRF-Token");
                  }
                  sessions->close(id);
                  return Reply{204, nullptr,
                               {{"Set-Cookie", fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                                                           k_session_cookie)}}};
                }));

  // A one-time login code. The middleware lets only the service token through to this route
  // (a session is refused there).
  server.Post("/v1/ui/codes",
              json_body_route(context, [sessions](const httplib::Request&,
                                                  const std::string& body) -> Result<Reply> {
                if (!body.empty()) {
                  if (auto payload = parse_json_object(body); !payload) return fail(payload.error());
                }
                const UiLoginCode code = sessions->issue_code();
                return Reply{201,
                             {{"code", code.code},
                              {"expires_at", util::format_rfc3339(code.expires_at_ms)},
                              {"login_path", "/ui/login#code=" + code.code}},
                             {}};
              }));
}

}  // namespace trainctl::service::handlers
