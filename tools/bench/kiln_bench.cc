// kiln-bench: times a Kiln engine on a workload and writes one JSON result
// (schema "kiln-bench/1", shared with hf_bench.py and llamacpp_bench.py).
//
//   bin/kiln-bench --engine /tmp/smol.engine --workload tools/bench/workloads/cpu_smoke.json
//       --out /tmp/kiln.json [--warmup 1 --reps 3] [--commit SHA]
//   bin/kiln-bench --model M --compile-flags="--max-batch 4" --engine /tmp/e ...
//       (compiles M into /tmp/e first, timing compile-model)
//
// What is timed is what a user of the generate loop sees: TTFT is the
// prefill forward plus the choice and detokenisation of the first token;
// each later token's latency is its forward step, its sampling and its
// detokenisation. Tokenisation of the prompt is not timed, since the prompt
// ids are fixed up front so that every engine runs exactly the same ids.
//
// With generate's speculative flags (--prompt-lookup N, or --draft-engine
// DIR with --draft-tokens/--draft-schedule/--draft-confidence) every case
// runs through Generator::GenerateIds (GenerateBatchIds for a batch) with
// speculative decoding: TTFT is until every row streamed its first text,
// decode tokens/s the rest; tokens arrive by verify rounds, so no per-token
// latencies are reported, and each case adds drafted/accepted tokens, the
// acceptance rate and target steps per token. speculative-bench compares the
// same engine with and without speculation in one run and checks the tokens.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/engine.h"
#include "runtime/reference/ops.h"
#include "tools/bench/kiln_runner.h"
#include "tools/bench/measure.h"
#include "tools/bench/traffic.h"
#include "tools/bench/workload.h"
#include "tools/cli.h"
#include "tools/device_flag.h"
#include "tools/load_generator.h"
#include "tools/speculation_flags.h"

ABSL_FLAG(std::string, engine, "", "engine directory (written first when --model is given)");
ABSL_FLAG(std::string, workload, "", "workload JSON (tools/bench/workloads/)");
ABSL_FLAG(std::string, out, "", "result JSON to write (default: stdout)");
ABSL_FLAG(int, warmup, -1, "untimed runs per case (default: the workload's)");
ABSL_FLAG(int, reps, -1, "timed runs per case (default: the workload's)");
ABSL_FLAG(std::string, target, "cpu", "engine target: cpu, sm_80 or sm_90 (the GPU)");
ABSL_FLAG(std::string, device, "gpu",
          "for sm_80/sm_90 engines: gpu, or emulator (the CUDA emulator on the CPU: its numbers "
          "time the emulation, not a GPU; it compiles the engine's kernel sources into this "
          "process, so use it on engines you compiled)");
ABSL_FLAG(std::string, executor, "cpu",
          "for cpu engines: cpu (the CPU backend) or reference (the reference executor)");
ABSL_FLAG(double, bandwidth_gbps, 0,
          "copy bandwidth for the roofline, GB/s (default: measured; give the GPU's, e.g. "
          "gpu-probe's, for a CUDA engine)");
ABSL_FLAG(std::string, model, "", "compile this model into --engine first, timing compile-model");
ABSL_FLAG(std::string, compile_model, "", "compile-model binary (default: next to kiln-bench)");
ABSL_FLAG(std::string, compile_flags, "", "extra compile-model flags, space separated");
ABSL_FLAG(std::string, model_name, "",
          "model label for reports (default: the engine's architecture)");
ABSL_FLAG(std::string, commit, "", "git commit of the build (default: $KILN_COMMIT)");
ABSL_FLAG(int, bandwidth_mib, 256, "buffer size of the copy-bandwidth measurement");

namespace kiln::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs compile-model as a child process; returns {wall seconds, child peak
// RSS bytes}. Its output goes to our stderr, as when run by hand.
absl::StatusOr<std::pair<double, int64_t>> RunCompileModel(const std::string& model,
                                                           const std::string& engine) {
  std::string binary = absl::GetFlag(FLAGS_compile_model);
  if (binary.empty()) {
    binary =
        (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "compile-model").string();
  }
  std::vector<std::string> args = {binary, "--model", model, "--out", engine};
  for (absl::string_view f :
       absl::StrSplit(absl::GetFlag(FLAGS_compile_flags), ' ', absl::SkipEmpty())) {
    args.emplace_back(f);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Clock::time_point start = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run ", binary, " (pass --compile-model)"));
  }
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(binary, " failed on ", model));
  }
  return std::make_pair(Since(start), static_cast<int64_t>(usage.ru_maxrss) * 1024);
}

// A percentile of the per-token latencies, null when there are none (a
// speculative run's tokens come by rounds).
json LatencyPercentile(const std::vector<double>& latencies, double q) {
  return latencies.empty() ? json(nullptr) : json(Percentile(latencies, q));
}

// With --prompt-lookup or --draft-engine: a Generator over the engine's
// plans and the flags' speculative fields, which every case's config takes.
struct Speculation {
  std::shared_ptr<Generator> generator;
  GenerationConfig fields;
  std::unique_ptr<LoadedGenerator> draft;  // the --draft-engine, if any
  // "prompt lookup 7", "draft q4 (adaptive)", "plain, as one loop plan"
  std::string label;
};

void TakeSpeculation(const GenerationConfig& from, GenerationConfig& to) {
  to.prompt_lookup_num_tokens = from.prompt_lookup_num_tokens;
  to.max_matching_ngram_size = from.max_matching_ngram_size;
  to.assistant_engine = from.assistant_engine;
  to.num_assistant_tokens = from.num_assistant_tokens;
  to.num_assistant_tokens_schedule = from.num_assistant_tokens_schedule;
  to.assistant_confidence_threshold = from.assistant_confidence_threshold;
  to.loop_plan = from.loop_plan;
}

// Runs one case: warm-up runs, then timed ones, and their summary. Row k
// of run r's batch gets prompt r * batch + k (warm-ups repeat run 0's).
// With `speculation`, every run goes through its Generator.
absl::StatusOr<json> RunCase(const LoadedEngine& l, const Workload& w, const BenchCase& c,
                             int warmup, int reps, const StepTraffic& traffic,
                             double bandwidth_gbps, const Speculation* speculation) {
  json out = {{"name", c.name},
              {"prompt_tokens", c.prompt_tokens},
              {"new_tokens", c.new_tokens},
              {"batch", c.batch}};
  if (c.batch > 1 && l.buckets.lower_bound(c.batch) == l.buckets.end()) {
    out["status"] = absl::StrCat("skipped: the engine has no batch >= ", c.batch,
                                 " (compile-model --max-batch ", c.batch, ")");
    return out;
  }
  GenerationConfig config = w.sampling;
  config.max_new_tokens = static_cast<int>(c.new_tokens);
  if (speculation != nullptr) TakeSpeculation(speculation->fields, config);
  if (!w.ignore_eos) {
    for (int64_t id : l.manifest.eos_token_ids)
      config.eos_token_ids.push_back(static_cast<int32_t>(id));
  }
  std::vector<json> runs;
  std::vector<double> ttft, tok_s, e2e, latencies, contexts;
  int64_t drafted = 0, accepted = 0, forwards = 0, tokens = 0;
  for (int r = 0; r < warmup + reps; ++r) {
    int run = r < warmup ? 0 : r - warmup;
    std::vector<std::vector<int32_t>> prompts;
    for (int64_t k = 0; k < c.batch; ++k) {
      KILN_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                            PromptIds(w, c, static_cast<int>(run * c.batch + k), *l.tokenizer));
      if (static_cast<int64_t>(ids.size()) + c.new_tokens > l.manifest.max_seq) {
        out["status"] = absl::StrCat("skipped: ", ids.size(), " + ", c.new_tokens,
                                     " tokens exceed the engine's max_seq ", l.manifest.max_seq);
        return out;
      }
      prompts.push_back(std::move(ids));
    }
    GenerationConfig run_config = config;
    run_config.seed = config.seed + static_cast<uint64_t>(run);
    KILN_ASSIGN_OR_RETURN(RunTimes t,
                          speculation != nullptr
                              ? RunTimedSpeculative(*speculation->generator, prompts, run_config)
                              : RunTimed(l, prompts, run_config));
    if (r < warmup) continue;
    const double decode_s = t.decode_s;
    drafted += t.drafted;
    accepted += t.accepted;
    forwards += t.target_forwards;
    for (const auto& ids : t.output_ids) tokens += static_cast<int64_t>(ids.size());
    ttft.push_back(t.ttft_s);
    e2e.push_back(t.ttft_s + decode_s);
    if (decode_s > 0) tok_s.push_back(static_cast<double>(t.tokens_after_first) / decode_s);
    latencies.insert(latencies.end(), t.latencies_s.begin(), t.latencies_s.end());
    // The mean context a decode step attends over, per row.
    contexts.push_back(static_cast<double>(prompts[0].size()) +
                       static_cast<double>(t.output_ids[0].size()) / 2);
    // Batch 1 keeps flat id lists; a batch has one list per row.
    json run_json = {
        {"ttft_s", t.ttft_s}, {"decode_s", decode_s}, {"token_latencies_s", t.latencies_s}};
    if (c.batch == 1) {
      run_json["prompt_ids"] = prompts[0];
      run_json["output_ids"] = t.output_ids[0];
    } else {
      run_json["prompt_ids"] = prompts;
      run_json["output_ids"] = t.output_ids;
    }
    runs.push_back(std::move(run_json));
  }
  out["status"] = "ok";
  out["runs"] = runs;
  // Per-token latency is per step: one token of every running row.
  json summary = {{"ttft_s", Spread(ttft)},
                  {"decode_tok_s", Spread(tok_s)},
                  {"e2e_s", Spread(e2e)},
                  {"latency_s",
                   {{"p50", LatencyPercentile(latencies, 50)},
                    {"p90", LatencyPercentile(latencies, 90)},
                    {"p99", LatencyPercentile(latencies, 99)},
                    {"n", latencies.size()}}}};
  // Roofline: a decode step must move at least the weights once and every
  // row's KV cache over its context; at the measured copy bandwidth that
  // takes bytes / bandwidth seconds. The fraction is that bound over the
  // measured median step time (1.0: bandwidth bound at copy speed).
  double context = Spread(contexts)["median"].get<double>();
  double bytes =
      static_cast<double>(traffic.weight_bytes) +
      static_cast<double>(traffic.kv_bytes_per_position) * context * static_cast<double>(c.batch);
  summary["bytes_per_step"] = bytes;
  if (speculation != nullptr) {
    // Tokens arrive by verify rounds: no per-token latencies (latency_s is
    // empty), and a "step" is no longer one token.
    summary["speculative"] = {
        {"drafted", drafted},
        {"accepted", accepted},
        {"acceptance_rate", drafted > 0 ? static_cast<double>(accepted) / drafted : 0.0},
        {"target_forwards_per_token",
         tokens > 0 ? static_cast<double>(forwards) / static_cast<double>(tokens) : 0.0}};
  }
  if (!latencies.empty() && bandwidth_gbps > 0) {
    double step_s = Percentile(latencies, 50);
    summary["roofline_step_s"] = bytes / (bandwidth_gbps * 1e9);
    summary["roofline_fraction"] = bytes / (bandwidth_gbps * 1e9) / step_s;
  } else {
    summary["roofline_step_s"] = nullptr;
    summary["roofline_fraction"] = nullptr;
  }
  out["summary"] = summary;
  return out;
}

// The Speculation the flags ask for, or nullptr when they ask for none.
absl::StatusOr<std::unique_ptr<Speculation>> SpeculationFor(const LoadedEngine& l,
                                                            const std::string& executor,
                                                            const std::string& device) {
  if (!SpeculationFlagsGiven()) return nullptr;
  if (l.plans() == nullptr) {
    return absl::InvalidArgumentError(
        "--prompt-lookup, --draft-engine and --loop-plan run on the CPU or CUDA backend, not "
        "--executor reference");
  }
  auto s = std::make_unique<Speculation>();
  std::vector<SessionBucket> buckets;
  for (const EngineBucket& b : l.manifest.buckets) buckets.push_back({b.function, b.seq});
  KILN_ASSIGN_OR_RETURN(s->generator,
                        GeneratorOnPlans(*l.plans(), l.module(), *l.tokenizer, l.manifest.max_seq,
                                         l.batch1_buckets(), std::move(buckets)));
  s->generator->set_verify_tokens(l.manifest.verify_tokens);
  KILN_RETURN_IF_ERROR(
      SpeculationFromFlags(l.manifest.target, executor, device, s->fields, s->draft));
  const GenerationConfig& f = s->fields;
  s->label = f.prompt_lookup_num_tokens > 0
                 ? absl::StrCat("prompt lookup ", f.prompt_lookup_num_tokens)
             : s->draft != nullptr
                 ? absl::StrCat("draft ", std::filesystem::path(s->draft->dir).filename().string(),
                                " (", f.num_assistant_tokens_schedule, ")")
                 : std::string("plain");
  if (f.loop_plan) absl::StrAppend(&s->label, ", as one loop plan");
  return s;
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_engine);
  std::string workload_path = absl::GetFlag(FLAGS_workload);
  if (dir.empty() || workload_path.empty()) {
    return absl::InvalidArgumentError("--engine and --workload are required (see --help)");
  }
  KILN_ASSIGN_OR_RETURN(Workload w, LoadWorkload(workload_path));
  int warmup = absl::GetFlag(FLAGS_warmup) >= 0 ? absl::GetFlag(FLAGS_warmup) : w.warmup;
  int reps = absl::GetFlag(FLAGS_reps) >= 1 ? absl::GetFlag(FLAGS_reps) : w.reps;

  json timings = {{"compile_s", nullptr}, {"compile_peak_rss_bytes", nullptr}};
  if (!absl::GetFlag(FLAGS_model).empty()) {
    KILN_ASSIGN_OR_RETURN(auto compiled, RunCompileModel(absl::GetFlag(FLAGS_model), dir));
    timings["compile_s"] = compiled.first;
    timings["compile_peak_rss_bytes"] = compiled.second;
  }
  // Copy bandwidth, measured in a child process so that its two buffers
  // never count in this process's peak RSS (VmHWM), which is the engine's.
  size_t copy_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_bandwidth_mib)) << 20;
  double bandwidth = 0;
  int pipe_fds[2];
  if (pipe(pipe_fds) == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      double gbps = MeasureCopyBandwidthGBps(copy_bytes, 5);
      ssize_t ignored = write(pipe_fds[1], &gbps, sizeof gbps);
      (void)ignored;
      _exit(0);
    }
    close(pipe_fds[1]);
    if (pid > 0 && read(pipe_fds[0], &bandwidth, sizeof bandwidth) != sizeof bandwidth)
      bandwidth = 0;
    close(pipe_fds[0]);
    if (pid > 0) waitpid(pid, nullptr, 0);
  }

  Clock::time_point start = Clock::now();
  const std::string target = absl::GetFlag(FLAGS_target);
  KILN_ASSIGN_OR_RETURN(CudaExecutorOptions cuda_options,
                        ExecutorOptionsForDevice(absl::GetFlag(FLAGS_device), target));
  const std::string executor = absl::GetFlag(FLAGS_executor);
  if (executor != "cpu" && executor != "reference") {
    return absl::InvalidArgumentError("--executor must be cpu or reference");
  }
  KILN_ASSIGN_OR_RETURN(LoadedEngine l, LoadForBench(dir, target, std::move(cuda_options),
                                                     executor == "reference"));
  timings["load_s"] = Since(start);
  if (l.cuda) {  // the CUDA executor's part of load_s
    const CudaLoadReport& r = l.cuda->executor->load_report();
    timings["device_upload_s"] = r.upload_seconds;
    timings["gemm_planning_and_graph_capture_s"] = r.capture_seconds;
    timings["gemms_on_gemv"] = r.gemms_on_gemv;
    timings["gemms_on_cublaslt"] = r.gemms_on_cublaslt;
    timings["gemms_on_recorded_algo"] = r.gemms_on_recorded_algo;
    timings["gemm_algorithms"] = r.gemm_algorithms;
    timings["gemm_choices"] = r.notes;
  }
  int64_t rss_after_load = PeakRssBytes();
  StepTraffic traffic = DecodeTraffic(l.module(), l.buckets[1]);
  if (absl::GetFlag(FLAGS_bandwidth_gbps) > 0) bandwidth = absl::GetFlag(FLAGS_bandwidth_gbps);

  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Speculation> speculation,
                        SpeculationFor(l, executor, absl::GetFlag(FLAGS_device)));
  std::vector<json> cases;
  for (const BenchCase& c : w.cases) {
    std::fprintf(stderr, "kiln-bench: %s ...\n", c.name.c_str());
    KILN_ASSIGN_OR_RETURN(json result,
                          RunCase(l, w, c, warmup, reps, traffic, bandwidth, speculation.get()));
    cases.push_back(std::move(result));
  }
  int64_t peak_rss = PeakRssBytes();

  std::string commit = absl::GetFlag(FLAGS_commit);
  if (commit.empty() && std::getenv("KILN_COMMIT") != nullptr) commit = std::getenv("KILN_COMMIT");
  std::string model = absl::GetFlag(FLAGS_model_name);
  json result = {
      {"schema", "kiln-bench/1"},
      {"engine",
       {{"name", "kiln"},
        {"backend", l.backend()},
        {"path", dir},
        {"dtype", std::string(DTypeName(l.manifest.dtype))},
        {"architecture", l.manifest.architecture},
        {"max_seq", l.manifest.max_seq},
        {"speculative", speculation != nullptr ? json(speculation->label) : json(nullptr)}}},
      {"model", model.empty() ? l.manifest.architecture : model},
      {"workload",
       {{"name", w.name}, {"file", w.path}, {"spec", w.raw}, {"warmup", warmup}, {"reps", reps}}},
      {"machine", MachineInfo()},
      {"card",
       {{"name", l.cuda ? l.cuda->executor->load_report().device : std::string("none (CPU)")},
        {"emulated", absl::GetFlag(FLAGS_device) == "emulator"},
        {"memory_gib", nullptr},
        {"driver", nullptr}}},
      {"commit", commit.empty() ? json(nullptr) : json(commit)},
      {"date", UtcNow()},
      {"threads", CpuThreads()},
      {"timings", timings},
      {"memory",
       {{"peak_host_rss_bytes", peak_rss},
        {"peak_host_rss_after_load_bytes", rss_after_load},
        {"peak_device_bytes", nullptr}}},
      {"bandwidth",
       {{"copy_gbps", bandwidth},
        {"method", absl::GetFlag(FLAGS_bandwidth_gbps) > 0
                       ? std::string("given by --bandwidth_gbps")
                       : absl::StrCat("memcpy of ", copy_bytes >> 20,
                                      " MiB, best of 5, (read + write bytes) / time")}}},
      {"traffic",
       {{"weight_bytes", traffic.weight_bytes},
        {"kv_bytes_per_position", traffic.kv_bytes_per_position},
        {"dtype", std::string(DTypeName(l.manifest.dtype))}}},
      {"cases", cases}};
  std::string text = result.dump(1) + "\n";
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return absl::OkStatus();
  }
  std::ofstream file(out);
  file << text;
  if (!file.good()) return absl::InternalError(absl::StrCat("cannot write ", out));
  std::fprintf(stderr, "kiln-bench: wrote %s\n", out.c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "Benchmarks a Kiln engine on a workload; writes JSON.\n"
                       "  kiln-bench --engine DIR --workload FILE.json [--warmup N --reps N] "
                       "[--out result.json] [--model M --compile-flags=\"...\" (the = form: a "
                       "separate value starting with -- would be read as a flag)] [--commit SHA] "
                       "[--prompt-lookup N | --draft-engine DIR --draft-tokens K "
                       "--draft-schedule S]");
  return kiln::ReportToolStatus("kiln-bench", kiln::bench::Run());
}
