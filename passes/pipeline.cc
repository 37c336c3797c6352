#include "passes/pipeline.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/verifier.h"

namespace kiln {

absl::StatusOr<PassPipeline> PassPipeline::Parse(std::string_view specs) {
  PassPipeline pipeline;
  // Commas separate passes except inside an option list's braces.
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= specs.size(); ++i) {
    char c = i < specs.size() ? specs[i] : ',';
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (c != ',' || depth > 0) continue;
    std::string_view spec = specs.substr(start, i - start);
    start = i + 1;
    if (spec.empty()) continue;
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, CreatePass(spec));
    pipeline.Add(std::string(spec), std::move(pass));
  }
  return pipeline;
}

void PassPipeline::Add(std::string spec, std::unique_ptr<Pass> pass) {
  passes_.emplace_back(std::move(spec), std::move(pass));
}

absl::Status PassPipeline::Run(Module& module) const {
  for (const auto& [spec, pass] : passes_) {
    absl::StatusOr<bool> changed = pass->Run(module);
    if (!changed.ok()) {
      return absl::Status(changed.status().code(),
                          absl::StrCat("pass ", spec, ": ", changed.status().message()));
    }
    absl::Status verified = VerifyModule(module);
    if (!verified.ok()) {
      return absl::InternalError(
          absl::StrCat("pass ", spec, " produced invalid IR: ", verified.message()));
    }
    if (report_sink_ && !pass->Report().empty()) report_sink_(spec, pass->Report());
    if (observer_) observer_(spec, module);
  }
  return absl::OkStatus();
}

absl::Status CompileBuckets(Module& module, const std::string& source,
                            const std::vector<BucketSpec>& buckets, int64_t cache,
                            PassPipeline::ReportSink report_sink) {
  std::string spec;
  for (const BucketSpec& b : buckets) {
    absl::StrAppend(&spec, spec.empty() ? "" : ",", "specialize-shapes{function=", source,
                    ",as=", b.function, ",batch=", b.batch, ",seq=", b.seq, ",cache=", cache, "}");
  }
  KILN_ASSIGN_OR_RETURN(PassPipeline specialize, PassPipeline::Parse(spec));
  KILN_RETURN_IF_ERROR(specialize.Run(module));
  std::erase_if(module.functions, [&](const Function& f) { return f.name == source; });
  KILN_ASSIGN_OR_RETURN(PassPipeline optimize, PassPipeline::Parse(kBucketOptimizeSpec));
  if (report_sink) optimize.set_report_sink(std::move(report_sink));
  return optimize.Run(module);
}

}  // namespace kiln
