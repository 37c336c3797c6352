// kiln-greedy-parity: Kiln's greedy decoding against a reference trace
// (Transformers', from tools/bench/hf_greedy_trace.py) under the real-model
// rule of greedy_parity.h. For each of the trace's prompts, the engine
// decodes as many tokens greedily (no stop at EOS: the trace does not stop
// either), keeping the top-5 of every step's logits; each prompt's verdict
// is printed, Kiln's trace and the verdicts written to --out, and the exit
// status is 1 when any prompt breaks the rule.
//
//   kiln-greedy-parity --engine DIR [--target cpu|sm_80|sm_90]
//       --reference TRACE.json [--out RESULT.json]
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "base/file_util.h"
#include "tools/bench/greedy_parity.h"
#include "tools/bench/kiln_runner.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, engine, "", "engine directory (compile-model --out)");
ABSL_FLAG(std::string, target, "", "cpu, sm_80 or sm_90 (default: the engine's)");
ABSL_FLAG(std::string, reference, "", "the reference greedy trace (hf_greedy_trace.py --out)");
ABSL_FLAG(std::string, out, "", "where to write Kiln's trace and the verdicts (JSON)");

namespace kiln::bench {
namespace {

// A trace of a few prompts is kilobytes; 256 MiB means a wrong file.
constexpr size_t kMaxTraceBytes = size_t{256} << 20;

// Kiln's greedy run of `prompt` for `steps` tokens.
absl::StatusOr<GreedyRun> RunGreedy(const LoadedEngine& engine, const std::vector<int32_t>& prompt,
                                    size_t steps) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SequenceSession> session, NewSequenceSession(engine));
  GreedyRun run{prompt, {}, {}, {}};
  std::vector<int32_t> feed = prompt;
  for (size_t i = 0; i < steps; ++i) {
    KILN_ASSIGN_OR_RETURN(HostTensor logits, session->Forward(feed));
    const int64_t vocab = logits.shape.back();
    const std::span<const float> last(logits.floats.data() + logits.floats.size() - vocab,
                                      static_cast<size_t>(vocab));
    run.top.push_back(TopK(last, kParityTopK));
    run.tokens.push_back(run.top.back().front());
    std::vector<float> values;
    for (int32_t id : run.top.back()) values.push_back(last[static_cast<size_t>(id)]);
    run.top_logits.push_back(std::move(values));
    feed = {run.tokens.back()};
  }
  return run;
}

absl::Status Run() {
  const std::string dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty() || absl::GetFlag(FLAGS_reference).empty()) {
    return absl::InvalidArgumentError("give --engine DIR and --reference TRACE.json");
  }
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFileToString(
                                              absl::GetFlag(FLAGS_reference), kMaxTraceBytes));
  KILN_ASSIGN_OR_RETURN(GreedyTrace reference, ParseGreedyTrace(text));
  if (reference.runs.empty()) return absl::InvalidArgumentError("the reference trace has no runs");
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    KILN_ASSIGN_OR_RETURN(target, EngineTarget(dir));
  }
  KILN_ASSIGN_OR_RETURN(LoadedEngine engine, LoadForBench(dir, target));

  GreedyTrace ours{absl::StrCat("kiln ", engine.backend()), {}};
  nlohmann::json verdicts = nlohmann::json::array();
  int failed = 0;
  for (size_t r = 0; r < reference.runs.size(); ++r) {
    const GreedyRun& want = reference.runs[r];
    KILN_ASSIGN_OR_RETURN(GreedyRun got, RunGreedy(engine, want.prompt, want.tokens.size()));
    KILN_ASSIGN_OR_RETURN(ParityVerdict v, CompareGreedy(got, want));
    failed += v.ok ? 0 : 1;
    std::printf("prompt %zu (%zu ids): %s; %s\n", r, want.prompt.size(), v.ok ? "ok" : "FAIL",
                v.detail.c_str());
    verdicts.push_back({{"prompt", r},
                        {"ok", v.ok},
                        {"matched", v.matched},
                        {"diverged", v.diverged},
                        {"detail", v.detail}});
    ours.runs.push_back(std::move(got));
  }
  std::printf("greedy parity vs %s: %zu of %zu prompts within the rule\n", reference.source.c_str(),
              reference.runs.size() - failed, reference.runs.size());
  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    nlohmann::json result = nlohmann::json::parse(GreedyTraceJson(ours));
    result["reference"] = reference.source;
    result["verdicts"] = verdicts;
    std::ofstream file(out);
    file << result.dump(1) << "\n";
    if (!file) return absl::UnavailableError(absl::StrCat("cannot write ", out));
  }
  if (failed > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(failed, " prompt(s) broke the real-model rule (see above)"));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "Greedy decoding of an engine against a reference trace (Transformers') "
                       "under the real-model rule.\n"
                       "  kiln-greedy-parity --engine DIR --reference TRACE.json [--target T] "
                       "[--out RESULT.json]");
  return kiln::ReportToolStatus("kiln-greedy-parity", kiln::bench::Run());
}
