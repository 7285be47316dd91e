#pragma once
// A scriptable Transport for unit tests of the client and the CLI: replies are queued per
// method and target, every request is recorded, and nothing touches the network.
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "trainctl/client/api_client.hpp"

namespace trainctl::testing {

// One scripted outcome: a response (its body sent whole, or in `chunks` to stream callers) or
// a transport failure (after the chunks, as a connection lost mid-stream).
struct FakeReply {
  client::HttpResponse response;
  std::vector<std::string> chunks;  // for stream(): delivered one by one after the body
  std::optional<Error> failure;     // set: the transport fails with it
};

class FakeTransport final : public client::Transport {
 public:
  // Queues a reply for `method` and `target`. A target with a '?' must match the request's
  // whole target; one without matches any query. Replies for one key are used in order; a
  // request with no reply left fails with ErrorCode::internal naming it.
  void add_reply(const std::string& method, const std::string& target, FakeReply reply);
  void add_json(const std::string& method, const std::string& target, int status,
                const nlohmann::json& body,
                std::vector<std::pair<std::string, std::string>> headers = {});
  // The body as a stream of chunks, as a chunked NDJSON or file download would arrive.
  void add_stream(const std::string& method, const std::string& target, int status,
                  std::vector<std::string> chunks);
  // The transport fails (e.g. ErrorCode::unavailable), after streaming `chunks_before` (as the
  // body of a 200 reply, when there are any).
  void add_failure(const std::string& method, const std::string& target, Error error,
                   std::vector<std::string> chunks_before = {});

  // Every request, in order. A body_file request is recorded with the file's bytes in `body`.
  const std::vector<client::HttpRequest>& requests() const { return m_requests; }
  // The requests whose method matches and whose target starts with `target_prefix`.
  std::vector<client::HttpRequest> requests_to(const std::string& method,
                                               const std::string& target_prefix) const;
  // How many replies are still queued (0 when the test consumed its whole script).
  size_t pending_replies() const;

  // A Transport that forwards to this one (which must outlive it), for code that takes
  // ownership of its transport, such as ApiClient.
  std::unique_ptr<client::Transport> share();

  Result<client::HttpResponse> send(const client::HttpRequest& request) override;
  Result<client::HttpResponse> stream(
      const client::HttpRequest& request,
      const std::function<bool(std::string_view)>& on_data) override;
  std::string endpoint() const override { return "http://trainctld.fake"; }

 private:
  Result<FakeReply> next_reply(const client::HttpRequest& request);

  std::map<std::string, std::deque<FakeReply>> m_replies;  // "METHOD target" -> queue
  std::vector<client::HttpRequest> m_requests;
};

}  // namespace trainctl::testing
