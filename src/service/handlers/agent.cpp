// The run channel of remote engines (docs/slurm.md): what a run's node agent reads (its launch
// plan and files) and writes back (its state, every task's log bytes, its outputs), each request
// authenticated by the run's own credential. What arrives is written into the run's directory in
// the local engine's layout (state.json, logs/<task>.log, outputs/), so logs, files, register and
// deploy read every run the same way, whatever engine ran it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/engines/agent_credential.hpp"
#include "trainctl/service/engines/node_states.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::handlers {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_agent_runs = "/v1/agent/runs/";
// The folders of a run's directory an agent may read: what its tasks need.
constexpr std::array k_readable_folders{"snapshot", "inputs"};
// A state or a piece of a log is small; an output may be as large as a blob.
constexpr uint64_t k_max_state_bytes = 8u << 20;
constexpr uint64_t k_max_log_piece_bytes = 8u << 20;

// The run directory of the route's run (match 1), which must exist.
Result<fs::path> routed_run_dir(const ServiceContext& context, const httplib::Request& request) {
  const std::string id = request.matches[1];
  if (auto valid = api::validate_name("run", id); !valid) return fail(valid.error());
  fs::path dir = context.runs.run_dir(id);
  std::error_code error;
  if (!fs::is_directory(dir, error)) return fail(ErrorCode::not_found, "run '{}' has no files here", id);
  return dir;
}

// Reads the whole body, refusing more than `max_bytes`.
Result<std::string> read_body(const httplib::ContentReader& reader, uint64_t max_bytes) {
  std::string body;
  bool too_large = false;
  const bool read = reader([&](const char* data, size_t size) {
    if (body.size() + size > max_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, size);
    return true;
  });
  if (too_large) return fail(ErrorCode::payload_too_large, "at most {} bytes", max_bytes);
  if (!read) return fail(ErrorCode::invalid_argument, "the upload was interrupted");
  return body;
}

// Streams the body into `target`: a temp file beside it, flushed, then renamed over it, so a
// reader sees the old file or the whole new one; nothing is kept in memory. The temp file goes
// with any failure.
Result<uint64_t> stream_to_file(const httplib::ContentReader& reader, const fs::path& target,
                                unsigned mode, uint64_t max_bytes) {
  const fs::path temp =
      target.parent_path() / fmt::format(".{}.{}.part", target.filename().string(), util::random_hex(6));
  util::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return fail(ErrorCode::io, "cannot write {}: {}", target.filename().string(), std::strerror(errno));
  uint64_t written = 0;
  std::optional<Error> failure;
  const bool read = reader([&](const char* data, size_t size) {
    if (written + size > max_bytes) {
      failure = Error(ErrorCode::payload_too_large, fmt::format("an output is at most {} bytes", max_bytes));
      return false;
    }
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd.get(), data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        failure = Error(errno == ENOSPC ? ErrorCode::insufficient_storage : ErrorCode::io,
                        fmt::format("cannot write an output: {}", std::strerror(errno)));
        return false;
      }
      done += static_cast<size_t>(n);
    }
    written += size;
    return true;
  });
  const bool complete = read && !failure && ::fsync(fd.get()) == 0;
  fd.reset();
  if (!complete || ::rename(temp.c_str(), target.c_str()) != 0) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    if (failure) return fail(std::move(*failure));
    return fail(ErrorCode::invalid_argument, "the upload of {} was interrupted", target.filename().string());
  }
  return written;
}

// Every regular file of the folders an agent may read: [{"path", "size", "mode"}], paths
// relative to the run directory.
nlohmann::json readable_files(const fs::path& run_dir) {
  auto files = nlohmann::json::array();
  for (const char* folder : k_readable_folders) {
    std::error_code error;
    for (fs::recursive_directory_iterator it(run_dir / folder, error), end; !error && it != end;
         it.increment(error)) {
      const auto status = it->symlink_status(error);
      if (error || !fs::is_regular_file(status)) continue;
      files.push_back({{"path", it->path().lexically_relative(run_dir).generic_string()},
                       {"size", it->file_size(error)},
                       {"mode", static_cast<unsigned>(status.permissions()) & 0777}});
    }
  }
  return files;
}

Result<spec::LaunchPlan> read_plan(const fs::path& run_dir) {
  auto text = util::read_file(run_dir / engines::k_launch_file);
  if (!text) return fail(text.error());
  auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(ErrorCode::internal, "the run's launch plan is unreadable");
  return spec::LaunchPlan::from_json(json);
}

// The node rank of `?node=K`; nullopt without one.
Result<std::optional<int>> node_parameter(const httplib::Request& request, const spec::LaunchPlan& plan) {
  if (!request.has_param("node")) return std::optional<int>{};
  const std::string text = request.get_param_value("node");
  int node = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), node);
  if (error != std::errc{} || end != text.data() + text.size() || node < 0 ||
      node >= engines::node_count(plan)) {
    return fail(ErrorCode::invalid_argument, "node must be a node rank of the run (0..{}), not '{}'",
                engines::node_count(plan) - 1, text);
  }
  return std::optional<int>(node);
}

// The run's plan and the files its tasks need. With ?node=K, node K's part of a multi-node
// run's plan, once every node has said where it is (409 until then: the agent asks again).
Result<Reply> get_plan(const ServiceContext& context, const httplib::Request& request) {
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  auto plan = read_plan(*dir);
  if (!plan) return fail(plan.error());
  auto node = node_parameter(request, *plan);
  if (!node) return fail(node.error());
  nlohmann::json body = {{"run_dir", dir->string()}, {"nodes", engines::node_count(*plan)}};
  if (*node) {
    if (plan->nodes.empty()) {
      return Reply{409,
                   {{"error", {{"code", "conflict"}, {"message", "waiting for every node to report"}}}},
                   {}};
    }
    body["plan"] = spec::node_part_of(*plan, **node).to_json();
  } else {
    body["plan"] = plan->to_json();
    body["files"] = readable_files(*dir);
  }
  return Reply{200, std::move(body), {}};
}

// Node K's place (`{"host", "address", "ports"}`); once every node of the run has reported, the
// plan is built again with their addresses and ports (RunManager::placed_plan).
Result<Reply> put_node(const ServiceContext& context, const httplib::Request& request,
                       const httplib::ContentReader& reader) {
  static std::mutex placing;  // one plan is placed once, whichever node reports last
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  auto body = read_body(reader, k_max_state_bytes);
  if (!body) return fail(body.error());
  const auto json = parse_json_body(*body);
  if (!json) return fail(json.error());
  spec::NodePlace place;
  try {
    json->at("host").get_to(place.host);
    json->at("address").get_to(place.address);
    json->at("ports").get_to(place.ports);
  } catch (const nlohmann::json::exception&) {
    return fail(ErrorCode::invalid_argument, "a node's place is {{\"host\", \"address\", \"ports\": [...]}}");
  }
  if (auto valid = api::validate_name("host", place.host); !valid) return fail(valid.error());
  std::lock_guard lock(placing);
  auto plan = read_plan(*dir);
  if (!plan) return fail(plan.error());
  const std::string id = request.matches[1];
  const std::string text = request.matches[2];
  int node = -1;
  std::from_chars(text.data(), text.data() + text.size(), node);
  if (node < 0 || node >= engines::node_count(*plan)) {
    return fail(ErrorCode::invalid_argument, "run {} has no node {}", id, text);
  }
  if (!plan->nodes.empty()) return Reply{204, {}, {}};  // placed already: a repeated report
  if (auto written = engines::write_node_place(*dir, node, place); !written) return fail(written.error());
  auto places = engines::node_places(*dir, engines::node_count(*plan));
  if (!places) return Reply{204, {}, {}};
  auto placed = context.runs.placed_plan(id, std::move(*places));
  if (!placed) return fail(placed.error());
  if (auto written = util::write_file_atomic(*dir / engines::k_launch_file, placed->to_json().dump() + "\n");
      !written) {
    return fail(written.error());
  }
  return Reply{204, {}, {}};
}

// What the service asks of the agent: {"cancel": true} once a cancel was requested, or once a
// multi-node run's verdict is in (every node stops).
Result<Reply> get_control(const ServiceContext& context, const httplib::Request& request) {
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  return Reply{200, {{"cancel", engines::nodes_must_stop(*dir)}}, {}};
}

Result<FileReply> get_file(const ServiceContext& context, const httplib::Request& request) {
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  const std::string path = request.matches[2];
  auto parts = api::split_relative_path(path);
  if (!parts) return fail(parts.error());
  if (std::ranges::find(k_readable_folders, parts->front()) == k_readable_folders.end()) {
    return fail(ErrorCode::forbidden, "an agent reads only snapshot/ and inputs/");
  }
  auto opened = open_file_below(*dir, path);
  if (!opened) return fail(opened.error());
  return FileReply{std::move(opened->fd), opened->size};
}

// The agent's RunState replaces state.json (with ?node=K, node K's part's state, which the engine
// merges), unless the run's state says it finished already (the engine may have recorded how
// Slurm ended it).
Result<Reply> put_state(const ServiceContext& context, const httplib::Request& request,
                        const httplib::ContentReader& reader) {
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  auto plan = read_plan(*dir);
  if (!plan) return fail(plan.error());
  auto node = node_parameter(request, *plan);
  if (!node) return fail(node.error());
  auto body = read_body(reader, k_max_state_bytes);
  if (!body) return fail(body.error());
  const auto json = parse_json_body(*body);
  if (!json) return fail(json.error());
  auto state = engines::run_state_from_json(*json);
  if (!state) return fail(state.error());
  if (auto current = engines::read_run_state(*dir);
      current && current->observation.phase == RunObservation::Phase::finished) {
    return Reply{409, {{"error", {{"code", "conflict"}, {"message", "the run has finished"}}}}, {}};
  }
  auto written = *node ? engines::write_node_state(*dir, **node, *state)
                       : engines::write_run_state(*dir, *state);
  if (!written) return fail(written.error());
  return Reply{204, {}, {}};
}

// Appends a piece of a log (logs/<name>: a task's <task>.log, or a file the run wrote in ./logs)
// that starts at byte `offset`: a piece resent after a lost reply
// adds only what the log lacks; a piece past the end (a lost piece before it) is a conflict whose
// reply says where the log ends, so the agent sends from there.
Result<Reply> put_log(const ServiceContext& context, const httplib::Request& request,
                      const httplib::ContentReader& reader) {
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  const std::string task = request.matches[2];
  if (auto valid = api::validate_name("log", task); !valid) return fail(valid.error());
  uint64_t offset = 0;
  try {
    offset = std::stoull(request.get_param_value("offset"));
  } catch (const std::exception&) {
    return fail(ErrorCode::invalid_argument, "offset (a byte count) is required");
  }
  auto body = read_body(reader, k_max_log_piece_bytes);
  if (!body) return fail(body.error());
  if (auto made = util::make_directories(*dir / "logs"); !made) return fail(made.error());
  const fs::path log = *dir / "logs" / task;
  util::UniqueFd fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) {
    return fail(ErrorCode::io, "cannot open the log of {}: {}", task, std::strerror(errno));
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (offset > size) {
    return Reply{409, {{"error", {{"code", "conflict"}, {"message", "a piece before this one is missing"}}},
                       {"size", size}},
                 {}};
  }
  const size_t skip = static_cast<size_t>(std::min<uint64_t>(size - offset, body->size()));
  const std::string_view rest = std::string_view(*body).substr(skip);
  if (!rest.empty() && ::write(fd.get(), rest.data(), rest.size()) != static_cast<ssize_t>(rest.size())) {
    return fail(ErrorCode::io, "cannot append to the log of {}: {}", task, std::strerror(errno));
  }
  return Reply{200, {{"size", size + rest.size()}}, {}};
}

// Writes one output file of the run (temp file, then rename), never through a link.
Result<Reply> put_output(const ServiceContext& context, const httplib::Request& request,
                         const httplib::ContentReader& reader) {
  auto dir = routed_run_dir(context, request);
  if (!dir) return fail(dir.error());
  const std::string path = request.matches[2];
  auto parts = api::split_relative_path(path);
  if (!parts) return fail(parts.error());
  fs::path target = *dir / "outputs";
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    target /= (*parts)[i];
    std::error_code error;
    if (fs::is_symlink(target, error)) return fail(ErrorCode::invalid_argument, "{} is a link", path);
    if (auto made = util::make_directories(target); !made) return fail(made.error());
  }
  target /= parts->back();
  // An output keeps its execute bits (?executable=1); nothing else of its mode travels.
  const unsigned mode = request.get_param_value("executable") == "1" ? 0755 : 0644;
  auto size = stream_to_file(reader, target, mode, context.config.max_blob_bytes);
  if (!size) return fail(size.error());
  return Reply{201, {{"path", "outputs/" + path}, {"size", *size}}, {}};
}

// A PUT route whose body the handler reads.
httplib::Server::HandlerWithContentReader upload_route(
    const ServiceContext& context,
    Result<Reply> (*handler)(const ServiceContext&, const httplib::Request&, const httplib::ContentReader&)) {
  return [&context, handler](const httplib::Request& request, httplib::Response& response,
                             const httplib::ContentReader& reader) {
    auto reply = handler(context, request, reader);
    if (!reply) {
      send_error(response, reply.error());
      response.set_header("Connection", "close");  // the body may be left unread
      return;
    }
    if (reply->status == 204) {
      response.status = 204;
      return;
    }
    send_json(response, reply->status, reply->body);
  };
}

}  // namespace

bool is_agent_route(std::string_view path) { return path.starts_with(k_agent_runs); }

bool agent_credential_matches(const ServiceContext& context, std::string_view path,
                              std::string_view authorization) {
  path.remove_prefix(k_agent_runs.size());
  const std::string_view id = path.substr(0, path.find('/'));
  if (!api::validate_name("run", id)) return false;
  return engines::agent_credential_matches(context.runs.run_dir(std::string(id)), authorization);
}

void install_agent_routes(httplib::Server& server, const ServiceContext& context) {
  const std::string runs(k_agent_runs);
  server.Get(runs + "([^/]+)/plan", json_route([&context](const httplib::Request& request) {
               return get_plan(context, request);
             }));
  server.Get(runs + "([^/]+)/control", json_route([&context](const httplib::Request& request) {
               return get_control(context, request);
             }));
  server.Get(runs + "([^/]+)/files/(.+)", file_route([&context](const httplib::Request& request) {
               return get_file(context, request);
             }));
  server.Put(runs + "([^/]+)/state", upload_route(context, put_state));
  server.Put(runs + "([^/]+)/nodes/([0-9]+)", upload_route(context, put_node));
  server.Put(runs + "([^/]+)/logs/([^/]+)", upload_route(context, put_log));
  server.Put(runs + "([^/]+)/outputs/(.+)", upload_route(context, put_output));
}

}  // namespace trainctl::service::handlers
