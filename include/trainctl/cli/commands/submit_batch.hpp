#pragma once
// A batch of runs from one `trainctl submit`: several spec files, the documents of a
// multi-document YAML file, --matrix combinations and --from-file lines, submitted in one
// request (POST .../runs/batch), all or none.
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/cli/commands/submit.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// Overrides (key=value, as --set takes them) that one item of a batch adds to the command's
// --set, and how the user wrote them, to name the item.
struct OverrideSet {
  std::vector<std::string> overrides;
  std::string label;  // "lr=0.1 bs=32", "params.txt:3"; empty for no overrides

  bool operator==(const OverrideSet&) const = default;
};

// --matrix KEY=V1,V2,... (repeatable): one set per combination, the first --matrix varying
// slowest ("a=1 b=x", "a=1 b=y", "a=2 b=x", ...). "\," is a comma inside a value. No --matrix:
// no sets. ErrorCode::usage naming the entry for one without '=' or with an empty key, an empty
// list of values, or a key given twice.
Result<std::vector<OverrideSet>> matrix_sets(const std::vector<std::string>& matrix);

// The lines of a --from-file text, one set per line, each either a JSON object {"key": value,
// ...} (a value that is not a string is passed as JSON, which YAML reads back as the same value)
// or words key=value separated by blanks (a word may be quoted with ' or " to hold blanks). Blank
// lines and lines whose first non-blank is '#' are skipped; each set is labelled
// "<source>:<line>". ErrorCode::usage naming `source` and the line for a line that is neither.
Result<std::vector<OverrideSet>> override_lines(std::string_view text, std::string_view source);

// Every set of `outer` combined with every set of `inner` (outer varying slowest), overrides
// and labels joined; an empty list counts as one empty set.
std::vector<OverrideSet> combine(const std::vector<OverrideSet>& outer,
                                 const std::vector<OverrideSet>& inner);

// Submits the batch the options describe (submit.hpp: is_batch): every item is loaded and
// checked first and every problem reported with its item ("item 3 (job.yaml [lr=0.1])"),
// nothing submitted when one fails (invalid_spec: exit 6). Each distinct source directory is
// scanned once and each distinct snapshot uploaded once. Prints one run per item in input order
// (-o name: one id per line). --stream follows the runs' logs, each line prefixed with its run;
// --wait waits without them; either exits with exit_code_for_runs.
Result<int> run_batch_submit(Session& session, const SubmitOptions& options);

// --wait of a submission: waits until every run has ended, prints them and exits with
// exit_code_for_runs. Ctrl-C detaches, or with --cancel-on-interrupt cancels the runs.
Result<int> wait_for_submitted(client::ApiClient& client, Session& session,
                               const SubmitOptions& options, const std::vector<std::string>& ids);

}  // namespace trainctl::cli
