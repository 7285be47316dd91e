#include "deployment_runtime.hpp"

#include <algorithm>
#include <optional>

namespace trainctl::service::deployments {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto k_wait_slice = std::chrono::milliseconds(50);

void stop_all(const ReplicaSet& replicas) {
  for (const auto& replica : replicas) replica->stop();
}

bool all_ready(const ReplicaSet& replicas) {
  return std::all_of(replicas.begin(), replicas.end(), [](const auto& r) { return r->ready(); });
}

std::shared_ptr<Replica> first_failed(const ReplicaSet& replicas) {
  const auto found =
      std::find_if(replicas.begin(), replicas.end(), [](const auto& r) { return r->failed(); });
  return found == replicas.end() ? nullptr : *found;
}

}  // namespace

DeploymentRuntime::~DeploymentRuntime() { stop(); }

void DeploymentRuntime::roll_out(int64_t revision, ReplicaSet replicas, RolloutFailed on_failed) {
  cancel_rollout();
  ReplicaSet retired;
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) return;
    m_rollout_error.clear();
    const bool serving = std::any_of(m_serving.begin(), m_serving.end(),
                                     [](const auto& r) { return r->ready(); });
    if (serving) {
      m_pending = replicas;
      m_cancel_rollout = false;
    } else {
      retired = std::exchange(m_serving, replicas);
      m_revision = revision;
    }
  }
  stop_all(retired);
  for (const auto& replica : replicas) replica->start();
  std::lock_guard lock(m_mutex);
  if (!m_pending.empty()) {
    m_rollout = std::thread(
        [this, revision, on_failed = std::move(on_failed)] { watch_rollout(revision, on_failed); });
  }
}

int64_t DeploymentRuntime::serving_revision() const {
  std::lock_guard lock(m_mutex);
  return m_revision;
}

void DeploymentRuntime::set_rollout_message(std::string message) {
  std::lock_guard lock(m_mutex);
  m_rollout_error = std::move(message);
}

void DeploymentRuntime::watch_rollout(int64_t revision, const RolloutFailed& on_failed) {
  std::optional<std::string> failure;
  std::unique_lock lock(m_mutex);
  while (!m_cancel_rollout && !m_stopping) {
    if (all_ready(m_pending)) {
      ReplicaSet retired = std::exchange(m_serving, std::exchange(m_pending, {}));
      m_revision = revision;
      lock.unlock();
      m_changed.notify_all();
      stop_all(retired);  // each after the request it is answering
      return;
    }
    if (const auto failed = first_failed(m_pending)) {
      failure = failed->status().message;
      m_rollout_error = fmt::format("revision {} failed: {}; rolling back, revision {} still "
                                    "serves",
                                    revision, *failure, m_revision);
      break;
    }
    m_changed.wait_for(lock, k_wait_slice);
  }
  ReplicaSet abandoned = std::exchange(m_pending, {});
  lock.unlock();
  stop_all(abandoned);
  if (failure && on_failed) on_failed(revision, *failure);
}

void DeploymentRuntime::cancel_rollout() {
  {
    std::lock_guard lock(m_mutex);
    m_cancel_rollout = true;
  }
  m_changed.notify_all();
  if (m_rollout.joinable()) m_rollout.join();
}

void DeploymentRuntime::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  cancel_rollout();
  ReplicaSet serving;
  {
    std::lock_guard lock(m_mutex);
    serving = m_serving;
  }
  m_changed.notify_all();
  stop_all(serving);
}

void DeploymentRuntime::notify() {
  { std::lock_guard lock(m_mutex); }  // a waiter between its check and its wait sees this
  m_changed.notify_all();
}

DeploymentStatus DeploymentRuntime::status() const {
  std::lock_guard lock(m_mutex);
  DeploymentStatus status;
  int ready = 0;
  int failed = 0;
  int starting = 0;
  std::string failure;
  for (const auto& replica : m_serving) {
    auto replica_status = replica->status();
    ready += replica_status.state == "ready";
    starting += replica_status.state == "starting" && replica_status.restarts == 0;
    if (replica_status.state == "failed" && failed++ == 0) failure = replica_status.message;
    status.replicas.push_back(std::move(replica_status));
  }
  const int total = static_cast<int>(m_serving.size());
  if (m_stopping) {
    status.state = "Deleting";
  } else if (!m_pending.empty()) {
    status.state = "Transitioning";
    status.message = "rolling out a new revision; the current replicas serve meanwhile";
  } else if (!m_rollout_error.empty()) {
    // The last rollout failed: the previous replicas serve, but what was asked for did not
    // happen (so `deploy update --wait` ends, exit 3), until the next rollout.
    status.state = "Failed";
    status.message =
        ready == total ? m_rollout_error
                       : fmt::format("{} ({} of {} replicas ready)", m_rollout_error, ready, total);
  } else if (ready == total) {
    status.state = "Healthy";
  } else if (failed > 0 && ready == 0) {
    status.state = "Failed";
    status.message = failure;
  } else if (ready == 0 && starting + failed == total) {
    status.state = "Transitioning";
    status.message = "replicas are starting (init() is running)";
  } else {
    status.state = "Unhealthy";
    status.message = fmt::format("{} of {} replicas ready", ready, total);
  }
  return status;
}

std::shared_ptr<Replica> DeploymentRuntime::acquire_locked(bool& any_ready) {
  any_ready = false;
  const size_t count = m_serving.size();
  for (size_t i = 0; i < count; ++i) {
    const size_t index = (m_next + i) % count;
    const auto& replica = m_serving[index];
    if (replica->try_acquire()) {
      m_next = index + 1;
      any_ready = true;
      return replica;
    }
    any_ready = any_ready || replica->ready();
  }
  return nullptr;
}

Result<ScoreReply> DeploymentRuntime::score(const std::string& body,
                                            std::chrono::milliseconds queue_timeout) {
  const auto deadline = Clock::now() + queue_timeout;
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    bool any_ready = false;
    if (auto replica = acquire_locked(any_ready)) {
      lock.unlock();
      return replica->call(body);
    }
    if (!any_ready) break;
    if (Clock::now() >= deadline) {
      return fail(ErrorCode::unavailable, "every replica stayed busy for {} ms; retry later",
                  queue_timeout.count());
    }
    m_changed.wait_until(lock, std::min(deadline, Clock::now() + k_wait_slice));
  }
  return fail(ErrorCode::unavailable, "no replica of the deployment is ready; retry later");
}

}  // namespace trainctl::service::deployments
