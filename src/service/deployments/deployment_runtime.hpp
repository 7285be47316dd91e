#pragma once
// The live side of one deployment: the replicas serving traffic, the replicas of a revision
// being rolled out, and the dispatch of scoring requests over the ready ones.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "replica.hpp"
#include "trainctl/service/deployments.hpp"

namespace trainctl::service::deployments {

using ReplicaSet = std::vector<std::shared_ptr<Replica>>;

// Called (from the rollout's thread, no lock of the runtime held) when a rollout failed while
// the previous replicas kept serving: the revision that failed and the first failure's message.
using RolloutFailed = std::function<void(int64_t failed_revision, const std::string& reason)>;

class DeploymentRuntime {
 public:
  DeploymentRuntime() = default;
  ~DeploymentRuntime();  // stop()
  DeploymentRuntime(const DeploymentRuntime&) = delete;
  DeploymentRuntime& operator=(const DeploymentRuntime&) = delete;

  // Starts `replicas` (not yet started) for `revision`. When no replica serves yet, they serve
  // at once; otherwise the current ones keep serving until every new one is ready, then they
  // are swapped in and the old ones stopped (each after its request in flight). A new replica
  // that fails cancels the rollout: the old ones keep serving, the status is Failed with why,
  // and `on_failed` is called. A rollout still going is canceled by the next one.
  void roll_out(int64_t revision, ReplicaSet replicas, RolloutFailed on_failed = {});
  // The revision whose replicas serve (its files are in use), 0 before any.
  int64_t serving_revision() const;
  // After a failed rollout: the message the status shows (Failed) until the next rollout.
  void set_rollout_message(std::string message);
  // Stops every replica (status Deleting meanwhile). Idempotent.
  void stop();
  // Wakes scoring requests waiting for a free replica; replicas call it on every change.
  void notify();

  DeploymentStatus status() const;
  Result<ScoreReply> score(const std::string& body, std::chrono::milliseconds queue_timeout);

 private:
  void cancel_rollout();
  void watch_rollout(int64_t revision, const RolloutFailed& on_failed);
  // A ready, idle replica of the serving set, reserved for one call; nullptr when none is free.
  // `any_ready` tells whether any could serve at all. Called with m_mutex held.
  std::shared_ptr<Replica> acquire_locked(bool& any_ready);

  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  ReplicaSet m_serving;
  ReplicaSet m_pending;  // the revision being rolled out
  std::thread m_rollout;
  bool m_cancel_rollout = false;
  bool m_stopping = false;
  int64_t m_revision = 0;  // the revision m_serving runs
  std::string m_rollout_error;
  size_t m_next = 0;  // round-robin start
};

}  // namespace trainctl::service::deployments
