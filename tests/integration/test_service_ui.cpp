// The web UI's routes against the real binary: its pages and their Content-Security-Policy, the
// login with a one-time code or the token, the session cookie and the CSRF token that state
// changes made with it need (RELIABILITY 17, 19, 22, 49).
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The session cookie's "name=value" from a login reply's Set-Cookie; empty when none.
std::string cookie_of(const RawResponse& response) {
  const std::string set_cookie = header_of(response, "Set-Cookie");
  return set_cookie.substr(0, set_cookie.find(';'));
}

std::string new_code(const ServiceFixture& service) {
  const auto issued = http_request(service, "POST", "/v1/ui/codes", "{}");
  REQUIRE(issued.status == 201);
  return body_json(issued)["code"];
}

struct Login {
  std::string cookie;
  std::string csrf_token;
};

Login log_in(const ServiceFixture& service) {
  const auto reply = http_request(service, "POST", "/ui/session",
                                  nlohmann::json{{"code", new_code(service)}}.dump(), {}, false);
  REQUIRE(reply.status == 200);
  return {cookie_of(reply), body_json(reply)["csrf_token"]};
}

}  // namespace

SCENARIO("the UI's pages are served with a strict Content-Security-Policy", "[service][ui]") {
  ServiceFixture service;
  WHEN("a browser opens the service's address") {
    const auto root = http_request(service, "GET", "/", {}, {}, false);
    const auto page = http_request(service, "GET", "/ui/", {}, {}, false);
    const auto chart = http_request(service, "GET", "/ui/assets/chart.js", {}, {}, false);
    THEN("/ leads to /ui/, an HTML page that runs only the service's own scripts") {
      CHECK(root.status == 302);
      CHECK(header_of(root, "Location") == "/ui/");
      CHECK(page.status == 200);
      CHECK(header_of(page, "Content-Type").starts_with("text/html"));
      CHECK(page.body.find("<script src=\"/ui/assets/app.js\"") != std::string::npos);
      const std::string policy = header_of(page, "Content-Security-Policy");
      CHECK(policy.find("default-src 'self'") != std::string::npos);
      CHECK(policy.find("script-src 'self'") != std::string::npos);
      CHECK(policy.find("unsafe-inline") == std::string::npos);
      CHECK(policy.find("frame-ancestors 'none'") != std::string::npos);
      CHECK(header_of(page, "X-Content-Type-Options") == "nosniff");
    }
    THEN("the chart library comes from the service itself") {
      CHECK(chart.status == 200);
      CHECK(header_of(chart, "Content-Type").starts_with("application/javascript"));
      CHECK(chart.body.find("Chart.js v3") != std::string::npos);
    }
  }
  WHEN("an asset path leaves the assets or names none") {
    const auto traversal = http_request(service, "GET", "/ui/assets/%2e%2e", {}, {}, false);
    const auto missing = http_request(service, "GET", "/ui/assets/token", {}, {}, false);
    const auto page_as_asset = http_request(service, "GET", "/ui/assets/index.html", {}, {}, false);
    THEN("it is 404 and shows nothing of the service's files") {
      CHECK(traversal.status == 404);
      CHECK(missing.status == 404);
      CHECK(page_as_asset.status == 404);
      CHECK(traversal.body.find(service.token()) == std::string::npos);
    }
  }
}

SCENARIO("a one-time code logs one browser in once", "[service][ui][auth]") {
  ServiceFixture service;
  GIVEN("a code issued to the holder of the service token") {
    const auto issued = http_request(service, "POST", "/v1/ui/codes", "{}");
    REQUIRE(issued.status == 201);
    const std::string code = body_json(issued)["code"];
    CHECK(body_json(issued)["login_path"] == "/ui/login#code=" + code);
    CHECK(issued.body.find(service.token()) == std::string::npos);
    WHEN("a browser logs in with it, then again") {
      const std::string body = nlohmann::json{{"code", code}}.dump();
      const auto first = http_request(service, "POST", "/ui/session", body, {}, false);
      const auto second = http_request(service, "POST", "/ui/session", body, {}, false);
      THEN("the first gets an HttpOnly, SameSite=Strict session cookie and the second 401") {
        REQUIRE(first.status == 200);
        const std::string set_cookie = header_of(first, "Set-Cookie");
        CHECK(set_cookie.starts_with("trainctl_session="));
        CHECK(set_cookie.find("; HttpOnly") != std::string::npos);
        CHECK(set_cookie.find("; SameSite=Strict") != std::string::npos);
        CHECK(set_cookie.find("; Path=/") != std::string::npos);
        CHECK(set_cookie.find(service.token()) == std::string::npos);
        CHECK(second.status == 401);
        CHECK(body_json(second)["error"]["code"] == "unauthorized");
      }
    }
  }
  WHEN("codes are asked for without the token, or with a session") {
    const Login login = log_in(service);
    const auto anonymous = http_request(service, "POST", "/v1/ui/codes", "{}", {}, false);
    const auto with_session = http_request(service, "POST", "/v1/ui/codes", "{}",
                                           {{"Cookie", login.cookie}, {"X-CSRF-Token", login.csrf_token}},
                                           false);
    THEN("both are 401: only the token holder makes codes") {
      CHECK(anonymous.status == 401);
      CHECK(with_session.status == 401);
    }
  }
  WHEN("a browser logs in with the token, a wrong token, a made-up code, or as text/plain") {
    const auto token = http_request(service, "POST", "/ui/session",
                                    nlohmann::json{{"token", service.token()}}.dump(), {}, false);
    const auto wrong = http_request(service, "POST", "/ui/session",
                                    nlohmann::json{{"token", std::string(64, '0')}}.dump(), {}, false);
    const auto made_up = http_request(service, "POST", "/ui/session",
                                      nlohmann::json{{"code", std::string(32, 'a')}}.dump(), {}, false);
    const auto plain = http_request(service, "POST", "/ui/session",
                                    nlohmann::json{{"token", service.token()}}.dump(), {}, false,
                                    "text/plain");
    THEN("only the token logs in; a simple cross-site form post is refused (415)") {
      CHECK(token.status == 200);
      CHECK(!cookie_of(token).empty());
      CHECK(wrong.status == 401);
      CHECK(made_up.status == 401);
      CHECK(plain.status == 415);
    }
  }
}

SCENARIO("a UI session reads the API and changes state only with its CSRF token", "[service][ui][auth]") {
  ServiceFixture service;
  const Login login = log_in(service);
  WHEN("the session reads runs and its own CSRF token") {
    const auto runs = http_request(service, "GET", "/v1/workspaces/default/runs", {},
                                   {{"Cookie", login.cookie}}, false);
    const auto session = http_request(service, "GET", "/ui/session", {}, {{"Cookie", login.cookie}}, false);
    const auto forged = http_request(service, "GET", "/v1/workspaces/default/runs", {},
                                     {{"Cookie", "trainctl_session=" + std::string(64, 'f')}}, false);
    THEN("its cookie authorizes them; a made-up cookie does not") {
      CHECK(runs.status == 200);
      CHECK(session.status == 200);
      CHECK(body_json(session)["csrf_token"] == login.csrf_token);
      CHECK(forged.status == 401);
    }
  }
  WHEN("the session changes state without, with a wrong, and with its CSRF token") {
    const std::string body = R"({"name": "ui-made"})";
    const auto without = http_request(service, "POST", "/v1/workspaces", body, {{"Cookie", login.cookie}}, false);
    const auto wrong = http_request(service, "POST", "/v1/workspaces", body,
                                    {{"Cookie", login.cookie}, {"X-CSRF-Token", std::string(32, '0')}}, false);
    const auto listed = http_request(service, "GET", "/v1/workspaces/ui-made", {}, {}, true);
    const auto with = http_request(service, "POST", "/v1/workspaces", body,
                                   {{"Cookie", login.cookie}, {"X-CSRF-Token", login.csrf_token}}, false);
    THEN("only the request with the token changes anything") {
      CHECK(without.status == 403);
      CHECK(wrong.status == 403);
      CHECK(listed.status == 404);
      CHECK(with.status == 201);
    }
  }
  WHEN("the session is used on a deployment's score route") {
    const auto scored = http_request(service, "POST", "/v1/workspaces/default/services/any/score", "{}",
                                     {{"Cookie", login.cookie}, {"X-CSRF-Token", login.csrf_token}}, false);
    THEN("it is refused: that route takes the deployment's scoring key only") {
      CHECK(scored.status == 401);
    }
  }
  WHEN("a request sends a wrong bearer token along with a good session cookie") {
    const auto mixed = http_request(service, "GET", "/v1/workspaces", {},
                                    {{"Cookie", login.cookie}, {"Authorization", "Bearer " + std::string(64, '0')}},
                                    false);
    THEN("the Authorization header decides: 401") { CHECK(mixed.status == 401); }
  }
  WHEN("the browser logs out") {
    const auto no_csrf = http_request(service, "DELETE", "/ui/session", {}, {{"Cookie", login.cookie}}, false);
    const auto out = http_request(service, "DELETE", "/ui/session", {},
                                  {{"Cookie", login.cookie}, {"X-CSRF-Token", login.csrf_token}}, false);
    const auto after = http_request(service, "GET", "/v1/workspaces", {}, {{"Cookie", login.cookie}}, false);
    THEN("the session ends (a logout needs the CSRF token too)") {
      CHECK(no_csrf.status == 403);
      CHECK(out.status == 204);
      CHECK(after.status == 401);
    }
  }
}
