// A sequence of passes with verification between them.
#ifndef KILN_PASSES_PIPELINE_H_
#define KILN_PASSES_PIPELINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "passes/pass.h"

namespace kiln {

// Runs passes in order on a module, verifying it after each one, so a pass
// that breaks an invariant is named in the error. An optional observer sees
// the module after every pass (ir-opt's --print-ir-after-all).
class PassPipeline {
 public:
  using Observer = std::function<void(std::string_view pass_spec, const Module& module)>;
  using ReportSink = std::function<void(std::string_view pass_spec, const std::string& report)>;

  // Parses a comma-separated list of pass specs: "dce,cse,specialize-shapes{batch=1}".
  static absl::StatusOr<PassPipeline> Parse(std::string_view specs);

  void Add(std::string spec, std::unique_ptr<Pass> pass);
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  // Receives each pass's non-empty Report() after it runs.
  void set_report_sink(ReportSink sink) { report_sink_ = std::move(sink); }

  absl::Status Run(Module& module) const;

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Pass>>> passes_;
  Observer observer_;
  ReportSink report_sink_;
};

// One compiled step function: `source` specialised to `batch` sequences of
// `seq` tokens per step, named `function`.
struct BucketSpec {
  std::string function;
  int64_t batch = 0;
  int64_t seq = 0;
};

// What every specialised bucket goes through, in order.
inline constexpr char kBucketOptimizeSpec[] =
    "fuse-attention,fuse-mlp,fuse-norm-residual,cse,dce,plan-memory";

// The compile pipeline compile-model runs, shared with everything that must
// see the same compiled module (codegen snapshots, runtime tests):
// specialise `source` into one function per bucket with a static KV cache
// of `cache` positions, drop `source` (only the buckets remain, as in an
// engine), then run kBucketOptimizeSpec. `report_sink`, when set, receives
// the passes' reports (plan-memory's plan).
absl::Status CompileBuckets(Module& module, const std::string& source,
                            const std::vector<BucketSpec>& buckets, int64_t cache,
                            PassPipeline::ReportSink report_sink = nullptr);

}  // namespace kiln

#endif  // KILN_PASSES_PIPELINE_H_
