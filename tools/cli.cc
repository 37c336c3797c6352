#include "tools/cli.h"

#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

namespace kiln {

std::vector<std::string> ParseToolFlags(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  std::vector<std::string> rewritten(argv, argv + argc);
  for (size_t i = 1; i < rewritten.size(); ++i) {
    std::string& arg = rewritten[i];
    if (arg == "--") break;  // everything after is positional
    if (arg.rfind("--", 0) != 0) continue;
    size_t end = arg.find('=');
    if (end == std::string::npos) end = arg.size();
    for (size_t c = 2; c < end; ++c) {
      if (arg[c] == '-') arg[c] = '_';
    }
  }
  std::vector<char*> pointers;
  for (std::string& arg : rewritten) pointers.push_back(arg.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  return std::vector<std::string>(positional.begin(), positional.end());
}

int ReportToolStatus(const char* tool, const absl::Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "%s: %s\n", tool, std::string(status.message()).c_str());
  return 1;
}

}  // namespace kiln
