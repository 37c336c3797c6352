// speculative-bench: speculative decoding against the same engine's plain
// greedy loop, prompt by prompt in one process, and the check that both
// give the same tokens.
//
//   bin/speculative-bench --engine E --workload tools/bench/workloads/copy_summarise.json
//       --prompt-lookup 7 [--draft-engine D --draft-tokens 5] [--runs 5] [--out r.json]
//
// Each case of the workload (prompt length x new tokens x batch) runs
// --runs prompts; each prompt runs once plain and once speculating, in
// alternation after one untimed run of each (a fresh context every time).
// Times are whole requests (prefill included). A greedy workload also checks
// that both modes give the same tokens, and so does a sampled one (e.g.
// copy_summarise_sampled.json) with prompt lookup, whose target draws each
// token with plain sampling's counter (acceptance.h); run r of a case draws
// with seed + r in both modes. A sampled one with --draft-engine reports
// speed and acceptance only: its output is equal in distribution, not
// token for token (speculative_distribution_test checks that), so each
// mode's rate counts its own tokens.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/generate/draft_schedule.h"
#include "runtime/session/plan_session.h"
#include "tools/bench/workload.h"
#include "tools/cli.h"
#include "tools/load_generator.h"
#include "tools/speculation_flags.h"

ABSL_FLAG(std::string, engine, "", "engine directory (the target)");
ABSL_FLAG(std::string, workload, "", "workload JSON (tools/bench/workloads/)");
ABSL_FLAG(int, runs, 5, "prompts per case");
ABSL_FLAG(std::string, out, "", "write the JSON result here (default: stdout)");
ABSL_FLAG(int, step_reps, 16, "timed steps per width for --step-costs");
ABSL_FLAG(std::vector<std::string>, step_widths, std::vector<std::string>({"1", "2", "4", "8"}),
          "token counts of the steps --step-costs times, each at least 1 and within the "
          "engine's buckets (a profile of one width: --step_widths 8)");
ABSL_FLAG(bool, step_costs_only, false, "time the steps (--step-costs) and stop");
ABSL_FLAG(bool, step_costs, true,
          "also time one target step of each --step_widths token count (a verify step's cost "
          "against a decode step's, at a 128-token context)");

namespace kiln::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Timed {
  std::vector<GenerationResult> results;
  double seconds = 0;
};

// One request of `prompts` (a batch when more than one) from a fresh context.
absl::StatusOr<Timed> RunOnce(Generator& g, const std::vector<std::vector<int32_t>>& prompts,
                              const GenerationConfig& config) {
  KILN_RETURN_IF_ERROR(g.Reset());
  Timed t;
  const Clock::time_point start = Clock::now();
  if (prompts.size() == 1) {
    KILN_ASSIGN_OR_RETURN(GenerationResult r, g.GenerateIds(prompts[0], config));
    t.results.push_back(std::move(r));
  } else {
    KILN_ASSIGN_OR_RETURN(t.results, g.GenerateBatchIds(prompts, config));
  }
  t.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return t;
}

// --step_widths as token counts, checked before the engine loads.
absl::StatusOr<std::vector<int>> StepWidths() {
  std::vector<int> widths;
  for (const std::string& flag : absl::GetFlag(FLAGS_step_widths)) {
    int width = 0;
    if (!absl::SimpleAtoi(flag, &width) || width < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--step_widths: '", flag, "' is not a token count of at least 1"));
    }
    widths.push_back(width);
  }
  return widths;
}

// Milliseconds per target step of each width (median of --step-reps) after a
// 128-token prefill, on the cpu engine's batch-1 buckets.
absl::StatusOr<nlohmann::json> StepCosts(LoadedGenerator& target, const std::vector<int>& widths) {
  cpu::CpuEngine& e = *target.cpu;
  KILN_ASSIGN_OR_RETURN(PlanSession session,
                        PlanSession::Create(*e.executor, e.engine.module, e.engine.manifest.max_seq,
                                            e.batch1_buckets));
  std::vector<int32_t> prefill(128);
  for (size_t i = 0; i < prefill.size(); ++i) prefill[i] = static_cast<int32_t>(100 + i);
  KILN_RETURN_IF_ERROR(session.ForwardLast(prefill).status());
  nlohmann::json out = nlohmann::json::object();
  for (int width : widths) {
    std::vector<int32_t> tokens(static_cast<size_t>(width), 300);
    std::vector<double> ms;
    for (int rep = 0; rep <= absl::GetFlag(FLAGS_step_reps); ++rep) {
      const Clock::time_point start = Clock::now();
      // A verify step copies every token's logits; a decode step the last.
      if (width == 1) {
        KILN_RETURN_IF_ERROR(session.ForwardLast(tokens).status());
      } else {
        KILN_RETURN_IF_ERROR(session.Forward(tokens).status());
      }
      if (rep > 0)
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      KILN_RETURN_IF_ERROR(session.Rewind(static_cast<int64_t>(prefill.size())));
    }
    std::sort(ms.begin(), ms.end());
    out[std::to_string(width)] = ms[ms.size() / 2];
  }
  KILN_RETURN_IF_ERROR(target.generator->Reset());
  return out;
}

absl::Status Run() {
  const std::string dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty() || absl::GetFlag(FLAGS_workload).empty()) {
    return absl::InvalidArgumentError("--engine and --workload are required (see --help)");
  }
  KILN_ASSIGN_OR_RETURN(Workload w, LoadWorkload(absl::GetFlag(FLAGS_workload)));
  const bool sampled = w.sampling.do_sample;
  if (absl::GetFlag(FLAGS_runs) < 1) return absl::InvalidArgumentError("--runs must be at least 1");
  KILN_ASSIGN_OR_RETURN(const std::vector<int> widths, StepWidths());
  KILN_RETURN_IF_ERROR(cpu::CheckCpuEnvironment());
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LoadedGenerator> target, LoadGenerator(dir, "cpu", "gpu"));
  std::unique_ptr<LoadedGenerator> draft;
  GenerationConfig spec = w.sampling;
  KILN_RETURN_IF_ERROR(
      SpeculationFromFlags(target->engine().manifest.target, "cpu", "gpu", spec, draft));
  if (!spec.speculative()) {
    return absl::InvalidArgumentError("give --prompt-lookup N or --draft-engine DIR");
  }
  // Greedy, or sampled with prompt lookup: the same tokens in both modes.
  const bool checked = !sampled || draft == nullptr;
  Generator& g = *target->generator;
  nlohmann::json step_costs;
  if (absl::GetFlag(FLAGS_step_costs) && target->cpu) {
    KILN_ASSIGN_OR_RETURN(step_costs, StepCosts(*target, widths));
    std::fprintf(stderr, "target step, ms by tokens: %s\n", step_costs.dump().c_str());
    if (absl::GetFlag(FLAGS_step_costs_only)) return absl::OkStatus();
  }
  nlohmann::json cases = nlohmann::json::array();
  for (const BenchCase& c : w.cases) {
    GenerationConfig plain = w.sampling;
    plain.max_new_tokens = static_cast<int>(c.new_tokens);
    spec.max_new_tokens = plain.max_new_tokens;
    double plain_s = 0, spec_s = 0, plain_decode_s = 0, spec_decode_s = 0;
    int64_t plain_tokens = 0, tokens = 0, drafted = 0, accepted = 0, forwards = 0, identical = 0,
            rows = 0;
    nlohmann::json runs = nlohmann::json::array();
    for (int run = -1; run < absl::GetFlag(FLAGS_runs); ++run) {  // run -1: untimed warmup
      std::vector<std::vector<int32_t>> prompts;
      for (int64_t b = 0; b < c.batch; ++b) {
        const int index = std::max(run, 0) * static_cast<int>(c.batch) + static_cast<int>(b);
        KILN_ASSIGN_OR_RETURN(prompts.emplace_back(), PromptIds(w, c, index, *target->tokenizer));
      }
      plain.seed = w.sampling.seed + static_cast<uint64_t>(std::max(run, 0));
      spec.seed = plain.seed;
      KILN_ASSIGN_OR_RETURN(Timed p, RunOnce(g, prompts, plain));
      KILN_ASSIGN_OR_RETURN(Timed s, RunOnce(g, prompts, spec));
      if (run < 0) continue;
      plain_s += p.seconds;
      spec_s += s.seconds;
      // The decode phase: after each mode's prefill (the plain prefill
      // yields the first token; the speculative one runs the prompt but its
      // last token, which the first round runs).
      double run_plain_decode = 0, run_spec_decode = 0;
      for (size_t b = 0; b < prompts.size(); ++b) {
        run_plain_decode = std::max(run_plain_decode, p.results[b].decode_seconds);
        run_spec_decode = std::max(run_spec_decode, s.results[b].decode_seconds);
      }
      plain_decode_s += run_plain_decode;
      spec_decode_s += run_spec_decode;
      int64_t run_plain_tokens = 0, run_tokens = 0, run_drafted = 0, run_accepted = 0,
              run_forwards = 0;
      bool same = true;
      for (size_t b = 0; b < prompts.size(); ++b) {
        const GenerationResult& r = s.results[b];
        same &= r.token_ids == p.results[b].token_ids;
        run_plain_tokens += static_cast<int64_t>(p.results[b].token_ids.size());
        run_tokens += static_cast<int64_t>(r.token_ids.size());
        run_drafted += r.drafted_tokens;
        run_accepted += r.accepted_tokens;
        run_forwards += r.target_forwards;
      }
      plain_tokens += run_plain_tokens;
      tokens += run_tokens;
      drafted += run_drafted;
      accepted += run_accepted;
      forwards += run_forwards;
      identical += same ? 1 : 0;
      ++rows;
      runs.push_back({{"prompt_tokens", prompts[0].size()},
                      {"plain_tokens", run_plain_tokens},
                      {"tokens", run_tokens},
                      {"plain_s", p.seconds},
                      {"speculative_s", s.seconds},
                      {"plain_decode_s", run_plain_decode},
                      {"speculative_decode_s", run_spec_decode},
                      {"drafted", run_drafted},
                      {"accepted", run_accepted},
                      {"target_forwards", run_forwards},
                      {"identical", checked ? nlohmann::json(same) : nlohmann::json()}});
    }
    const double plain_rate = plain_tokens / plain_s, spec_rate = tokens / spec_s;
    const double speedup = spec_rate / plain_rate;
    // Decode tokens/s: the plain loop's decode phase yields all but the
    // first token of each row, the speculative one all of them.
    const double plain_decode_rate = (plain_tokens - rows * c.batch) / plain_decode_s;
    const double spec_decode_rate = tokens / spec_decode_s;
    cases.push_back({{"case", c.name},
                     {"sampled", sampled},
                     {"plain_tokens_per_s", plain_rate},
                     {"speculative_tokens_per_s", tokens / spec_s},
                     {"speedup", speedup},
                     {"plain_decode_tokens_per_s", plain_decode_rate},
                     {"speculative_decode_tokens_per_s", spec_decode_rate},
                     {"decode_speedup", spec_decode_rate / plain_decode_rate},
                     {"acceptance_rate", drafted > 0 ? double(accepted) / drafted : 0.0},
                     {"target_forwards_per_token", tokens > 0 ? double(forwards) / tokens : 0.0},
                     {"identical_runs", checked ? nlohmann::json(identical) : nlohmann::json()},
                     {"runs", rows},
                     {"per_run", runs}});
    std::fprintf(stderr,
                 "%s: whole requests: plain %.1f tok/s, speculative %.1f tok/s (%.2fx); decode: "
                 "plain %.1f tok/s, speculative %.1f tok/s (%.2fx); acceptance %.2f, %.2f target "
                 "steps per token; %s\n",
                 c.name.c_str(), plain_rate, spec_rate, speedup, plain_decode_rate,
                 spec_decode_rate, spec_decode_rate / plain_decode_rate,
                 drafted > 0 ? double(accepted) / drafted : 0.0,
                 tokens > 0 ? double(forwards) / tokens : 0.0,
                 checked ? absl::StrCat(identical, "/", rows, " runs identical").c_str()
                         : "sampled with an assistant (no token check)");
  }
  nlohmann::json out = {
      {"engine", dir},
      {"draft_engine", draft != nullptr ? draft->dir : std::string()},
      {"prompt_lookup", spec.prompt_lookup_num_tokens},
      {"draft_tokens", spec.num_assistant_tokens},
      // The schedule that ran: a sampled request's adaptive is timing-free
      // (draft_schedule.h), so that its seed reproduces it.
      {"schedule", spec.loop_plan
                       ? std::string(spec.num_assistant_tokens_schedule == "constant" ? "constant"
                                                                                      : "heuristic")
                       : DraftSchedule::Running(spec.num_assistant_tokens_schedule,
                                                /*free_drafter=*/draft == nullptr, sampled)},
      // The speculative runs as one loop plan (generate --loop-plan).
      {"loop_plan", spec.loop_plan},
      {"verify_tokens", g.verify_tokens()},
      {"step_ms_by_tokens", step_costs},
      {"backend", target->cpu ? target->cpu->executor->Describe() : std::string("other")},
      {"workload", w.raw},
      {"cases", cases}};
  const std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty()) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::ofstream(path) << out.dump(2) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "Speculative decoding against plain decoding on one engine.\n"
                       "  speculative-bench --engine DIR --workload FILE.json "
                       "(--prompt-lookup N | --draft-engine DIR) [--runs N] [--out FILE]");
  return kiln::ReportToolStatus("speculative-bench", kiln::bench::Run());
}
