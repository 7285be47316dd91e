#include "fakes/fake_transport.hpp"

#include "trainctl/util/fs.hpp"

namespace trainctl::testing {

namespace {

std::string key_of(const std::string& method, const std::string& target) {
  return method + ' ' + target;
}

class SharedTransport final : public client::Transport {
 public:
  explicit SharedTransport(FakeTransport& fake) : m_fake(fake) {}
  Result<client::HttpResponse> send(const client::HttpRequest& request) override {
    return m_fake.send(request);
  }
  Result<client::HttpResponse> stream(
      const client::HttpRequest& request,
      const std::function<bool(std::string_view)>& on_data) override {
    return m_fake.stream(request, on_data);
  }
  std::string endpoint() const override { return m_fake.endpoint(); }

 private:
  FakeTransport& m_fake;
};

}  // namespace

void FakeTransport::add_reply(const std::string& method, const std::string& target,
                              FakeReply reply) {
  m_replies[key_of(method, target)].push_back(std::move(reply));
}

void FakeTransport::add_json(const std::string& method, const std::string& target, int status,
                             const nlohmann::json& body,
                             std::vector<std::pair<std::string, std::string>> headers) {
  FakeReply reply;
  reply.response.status = status;
  reply.response.headers = std::move(headers);
  reply.response.headers.emplace_back("Content-Type", "application/json");
  reply.response.body = body.dump();
  add_reply(method, target, std::move(reply));
}

void FakeTransport::add_stream(const std::string& method, const std::string& target, int status,
                               std::vector<std::string> chunks) {
  FakeReply reply;
  reply.response.status = status;
  reply.chunks = std::move(chunks);
  add_reply(method, target, std::move(reply));
}

void FakeTransport::add_failure(const std::string& method, const std::string& target, Error error,
                                std::vector<std::string> chunks_before) {
  FakeReply reply;
  reply.failure = std::move(error);
  reply.chunks = std::move(chunks_before);
  if (!reply.chunks.empty()) reply.response.status = 200;  // the head came before the bytes
  add_reply(method, target, std::move(reply));
}

std::vector<client::HttpRequest> FakeTransport::requests_to(
    const std::string& method, const std::string& target_prefix) const {
  std::vector<client::HttpRequest> out;
  for (const auto& request : m_requests) {
    if (request.method == method && request.target.starts_with(target_prefix)) {
      out.push_back(request);
    }
  }
  return out;
}

size_t FakeTransport::pending_replies() const {
  size_t count = 0;
  for (const auto& [key, queue] : m_replies) count += queue.size();
  return count;
}

std::unique_ptr<client::Transport> FakeTransport::share() {
  return std::make_unique<SharedTransport>(*this);
}

Result<FakeReply> FakeTransport::next_reply(const client::HttpRequest& request) {
  auto recorded = request;
  if (request.body_file) {
    auto content = util::read_file(*request.body_file);
    if (!content) return std::unexpected(content.error());
    recorded.body = std::move(*content);
  }
  m_requests.push_back(std::move(recorded));

  const auto path = request.target.substr(0, request.target.find('?'));
  for (const auto& key : {key_of(request.method, request.target), key_of(request.method, path)}) {
    const auto it = m_replies.find(key);
    if (it == m_replies.end() || it->second.empty()) continue;
    auto reply = std::move(it->second.front());
    it->second.pop_front();
    return reply;
  }
  return fail(ErrorCode::internal, "FakeTransport: no reply scripted for {} {}", request.method,
              request.target);
}

Result<client::HttpResponse> FakeTransport::send(const client::HttpRequest& request) {
  auto reply = next_reply(request);
  if (!reply) return std::unexpected(std::move(reply.error()));
  if (reply->failure) return std::unexpected(std::move(*reply->failure));
  for (const auto& chunk : reply->chunks) reply->response.body += chunk;
  return std::move(reply->response);
}

// Mirrors the curl transport: an error status keeps its body in the response; a success
// streams it to on_data and returns the response without a body.
Result<client::HttpResponse> FakeTransport::stream(
    const client::HttpRequest& request, const std::function<bool(std::string_view)>& on_data) {
  auto reply = next_reply(request);
  if (!reply) return std::unexpected(std::move(reply.error()));
  auto chunks = std::move(reply->chunks);
  if (!reply->response.body.empty()) chunks.insert(chunks.begin(), reply->response.body);
  reply->response.body.clear();
  if (reply->response.status >= 400 && !reply->failure) {
    for (const auto& chunk : chunks) reply->response.body += chunk;
    return std::move(reply->response);
  }
  const auto stopped = [&] {
    return fail(ErrorCode::interrupted, "{} {} stopped by the receiver", request.method,
                request.target);
  };
  const bool has_head = reply->response.status != 0;  // a failure before any reply has none
  if (has_head && request.on_head && !request.on_head(reply->response)) return stopped();
  for (const auto& chunk : chunks) {
    if (!on_data(chunk)) return stopped();
  }
  if (reply->failure) return std::unexpected(std::move(*reply->failure));
  return std::move(reply->response);
}

}  // namespace trainctl::testing
