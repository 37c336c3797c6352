// ir-opt: reads a module in IR text form, runs passes on it and prints the
// result. The test driver of every pass (tests/passes/*.ir through lit and
// FileCheck) and a debugging aid.
//
//   bin/ir-opt model.ir --pass dce,cse --print-ir-after-all
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "passes/pipeline.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, pass, "", "comma-separated passes, e.g. dce,cse (see --list-passes)");
ABSL_FLAG(bool, print_ir_after_all, false, "print the module after every pass");
ABSL_FLAG(bool, list_passes, false, "list the registered passes and exit");

namespace kiln {
namespace {

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  std::stringstream buffer;
  if (path == "-") {
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  buffer << in.rdbuf();
  return buffer.str();
}

void ListPasses() {
  for (const PassInfo& info : AllPasses()) {
    std::printf("%-20s %s\n", std::string(info.name).c_str(), std::string(info.summary).c_str());
    for (const PassOptionInfo& option : info.options) {
      std::printf("  %-18s %s\n", std::string(option.name).c_str(),
                  std::string(option.help).c_str());
    }
  }
}

absl::Status Run(const std::vector<std::string>& args) {
  if (absl::GetFlag(FLAGS_list_passes)) {
    ListPasses();
    return absl::OkStatus();
  }
  if (args.size() != 2) {
    return absl::InvalidArgumentError("expected exactly one input file (or - for stdin)");
  }
  KILN_ASSIGN_OR_RETURN(std::string text, ReadInput(args[1]));
  KILN_ASSIGN_OR_RETURN(Module module, ParseModule(text));
  KILN_ASSIGN_OR_RETURN(PassPipeline pipeline, PassPipeline::Parse(absl::GetFlag(FLAGS_pass)));
  if (absl::GetFlag(FLAGS_print_ir_after_all)) {
    pipeline.set_observer([](std::string_view spec, const Module& m) {
      std::printf("// -----// IR after %s //----- //\n%s", std::string(spec).c_str(),
                  PrintModule(m).c_str());
    });
  }
  pipeline.set_report_sink([](std::string_view spec, const std::string& report) {
    std::fprintf(stderr, "// %s: %s\n", std::string(spec).c_str(), report.c_str());
  });
  KILN_RETURN_IF_ERROR(pipeline.Run(module));
  if (!absl::GetFlag(FLAGS_print_ir_after_all)) std::fputs(PrintModule(module).c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  std::vector<std::string> args = kiln::ParseToolFlags(
      argc, argv,
      "Runs Kiln passes over textual IR.\n"
      "  ir-opt FILE|- [--pass p1,p2{opt=v}] [--print-ir-after-all] [--list-passes]");
  return kiln::ReportToolStatus("ir-opt", kiln::Run(args));
}
