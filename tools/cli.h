// Shared command-line plumbing for Kiln's tools.
#ifndef KILN_TOOLS_CLI_H_
#define KILN_TOOLS_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln {

// Parses the command line with Abseil flags after rewriting `--max-new-tokens`
// style names to Abseil's `--max_new_tokens` (values are left alone), so both
// spellings work. Returns the positional arguments, argv[0] first.
std::vector<std::string> ParseToolFlags(int argc, char** argv, const char* usage);

// Prints "<tool>: <message>" to stderr and returns the process exit code:
// 0 for OK, 1 otherwise.
int ReportToolStatus(const char* tool, const absl::Status& status);

}  // namespace kiln

#endif  // KILN_TOOLS_CLI_H_
