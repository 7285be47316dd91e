#pragma once
// `trainctl workspace create|list|show|delete`.
#include <string>

#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct WorkspaceOptions {
  std::string name;
  std::string description;  // create only
};

// The name is a valid resource name (ErrorCode::invalid_argument otherwise).
Result<void> validate(const WorkspaceOptions& options);

Result<int> run_workspace_create(Session& session, const WorkspaceOptions& options);
Result<int> run_workspace_list(Session& session);
Result<int> run_workspace_show(Session& session, const WorkspaceOptions& options);
Result<int> run_workspace_delete(Session& session, const WorkspaceOptions& options);

}  // namespace trainctl::cli
