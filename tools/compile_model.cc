// compile-model: builds a Hugging Face checkpoint or a llama.cpp GGUF file
// into a Kiln engine directory (runtime/engine/engine.h): the model's IR
// specialised per (batch, length) bucket, fused and memory-planned, with its
// weights in the engine dtype (GGUF weights dequantised), its config,
// tokenizer and chat template, and a checksummed manifest.
//
//   bin/compile-model --model tests/fixtures/models/llama3/f32 --out /tmp/llama3.engine
//   bin/compile-model --model SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/smollm2.engine
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "models/checkpoint.h"
#include "models/config_reader.h"
#include "models/gguf_model.h"
#include "models/gguf_writer.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "codegen/device_info.h"
#include "runtime/cuda/arena_plan.h"
#include "runtime/cuda/gemm_choices.h"
#include "runtime/cuda/gemm_shapes.h"
#include "runtime/cuda/gemm_tuner.h"
#include "runtime/cuda/kernel_bundle.h"
#include "runtime/cuda/launch_plan.h"
#include "runtime/engine/engine.h"
#include "runtime/generate/chat_template.h"
#include "runtime/generate/generation_config.h"
#include "runtime/reference/gguf_weights.h"
#include "runtime/reference/weights.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, model, "",
          "Hugging Face model directory (config.json + safetensors) or a .gguf model file");
ABSL_FLAG(std::string, out, "", "engine directory to write");
ABSL_FLAG(std::string, target, "cpu", "cpu, sm_80 or sm_90");
ABSL_FLAG(std::string, dtype, "f32", "f32, bf16 or f16");
ABSL_FLAG(int64_t, max_batch, 1, "largest batch the engine serves");
ABSL_FLAG(int64_t, max_seq, 0, "KV-cache capacity in tokens (default: min(max_position_embeddings, 2048))");
ABSL_FLAG(std::string, buckets, "16,64,256", "prefill lengths to compile (each <= --max-seq)");
ABSL_FLAG(std::string, tokenizer, "", "tokenizer.json to bundle (default: the model directory's)");
ABSL_FLAG(std::string, kernel_cache, "",
          "CUDA targets: directory caching NVRTC output by source hash (default "
          "$KILN_KERNEL_CACHE, else ~/.cache/kiln/kernels; 'none' disables it)");
ABSL_FLAG(std::string, tune_gemms, "auto",
          "CUDA targets: measure cuBLASLt algorithms on this machine's GPU and record them "
          "(auto: when a GPU of the target's architecture is here; on: fail without one; off)");

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;

// Prints "[k/5] step ... 0.12 s" lines; a step left open by an error ends
// its line so the error starts on a fresh one.
class Progress {
 public:
  ~Progress() {
    if (step_ != done_) std::fputs(" failed\n", stderr);
  }

  void Step(const std::string& what) {
    Finish();
    std::fprintf(stderr, "[%d/5] %s ...", ++step_, what.c_str());
    std::fflush(stderr);
    start_ = Clock::now();
  }
  void Finish() {
    if (step_ == 0 || done_ == step_) return;
    std::fprintf(stderr, " %.2f s\n",
                 std::chrono::duration<double>(Clock::now() - start_).count());
    done_ = step_;
  }

 private:
  int step_ = 0, done_ = 0;
  Clock::time_point start_;
};

absl::StatusOr<std::vector<int64_t>> ParseBuckets(const std::string& text, int64_t max_seq) {
  std::vector<int64_t> lengths;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(piece, &n) || n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--buckets: '", std::string(piece), "' is not a positive length"));
    }
    if (n <= max_seq) lengths.push_back(n);
  }
  std::sort(lengths.begin(), lengths.end());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  if (lengths.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--buckets: no length is <= --max-seq (", max_seq, ")"));
  }
  return lengths;
}

// The model compile-model reads: a Hugging Face directory or a GGUF file.
struct ModelSource {
  std::string path;
  nlohmann::json config;
  std::string config_origin;  // how errors name the config
  std::optional<GgufCheckpoint> gguf;  // set for a GGUF file
  std::string chat_template;  // empty when the model has none
  nlohmann::json generation_config = nlohmann::json::object();  // {} when none
};

// A Hugging Face directory's chat template: chat_template.jinja (what
// Transformers 5 saves), else tokenizer_config.json's "chat_template" (a
// string, or a list of {name, template} of which "default" is used).
absl::StatusOr<std::string> ReadHfChatTemplate(const std::string& dir) {
  if (std::filesystem::exists(dir + "/chat_template.jinja")) {
    std::ifstream in(dir + "/chat_template.jinja", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  if (!std::filesystem::exists(dir + "/tokenizer_config.json")) return std::string();
  KILN_ASSIGN_OR_RETURN(ConfigReader tokenizer_config,
                        ConfigReader::ReadFile(dir + "/tokenizer_config.json"));
  const nlohmann::json& json = tokenizer_config.json();
  if (!json.contains("chat_template") || json["chat_template"].is_null()) return std::string();
  if (json["chat_template"].is_string()) return json["chat_template"].get<std::string>();
  if (json["chat_template"].is_array()) {
    for (const nlohmann::json& named : json["chat_template"]) {
      if (named.is_object() && named.value("name", "") == "default" && named.contains("template") &&
          named["template"].is_string()) {
        return named["template"].get<std::string>();
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      dir, "/tokenizer_config.json: 'chat_template' must be a string or a list holding a "
      "{\"name\": \"default\", \"template\": ...} entry"));
}

absl::StatusOr<ModelSource> OpenModelSource(const std::string& path) {
  ModelSource source;
  source.path = path;
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat(
        "--model ", path, " does not exist: give a Hugging Face model directory or a .gguf file"));
  }
  if (std::filesystem::is_directory(path)) {
    KILN_ASSIGN_OR_RETURN(ConfigReader config, ConfigReader::ReadFile(path + "/config.json"));
    source.config = config.json();
    source.config_origin = path + "/config.json";
    KILN_ASSIGN_OR_RETURN(source.chat_template, ReadHfChatTemplate(path));
    if (std::filesystem::exists(path + "/generation_config.json")) {
      KILN_ASSIGN_OR_RETURN(ConfigReader generation,
                            ConfigReader::ReadFile(path + "/generation_config.json"));
      // Checked now, so a bad file fails compile-model rather than generate.
      KILN_RETURN_IF_ERROR(GenerationDefaults(generation.json()).status());
      source.generation_config = generation.json();
    }
    return source;
  }
  KILN_ASSIGN_OR_RETURN(GgufCheckpoint gguf, GgufCheckpoint::Open(path));
  source.config = gguf.config();
  source.config_origin = path + " (metadata)";
  if (gguf.file().Has("tokenizer.chat_template")) {
    KILN_ASSIGN_OR_RETURN(std::string_view chat, gguf.file().GetString("tokenizer.chat_template"));
    source.chat_template = std::string(chat);
  }
  source.gguf.emplace(std::move(gguf));
  return source;
}

absl::StatusOr<WeightMap> LoadSourceWeights(const ModelSource& source, const Module& module) {
  if (source.gguf) return LoadGgufWeights(module, *source.gguf);
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(source.path));
  return LoadWeights(module, checkpoint);
}

// The tokenizer file to bundle: --tokenizer, else the directory's
// tokenizer.json, else for a GGUF model a vocabulary-only copy of its
// tokenizer.* metadata written to `scratch`/tokenizer.gguf. Empty if none.
absl::StatusOr<std::string> TokenizerToBundle(const ModelSource& source, const std::string& flag,
                                              const std::string& scratch) {
  if (!flag.empty()) return flag;
  if (!source.gguf) {
    std::string json = source.path + "/tokenizer.json";
    return std::filesystem::exists(json) ? json : std::string();
  }
  if (!source.gguf->file().Has("tokenizer.ggml.tokens")) return std::string();
  std::string vocab = scratch + "/tokenizer.gguf";
  KILN_RETURN_IF_ERROR(WriteGgufMetadata(
      source.gguf->file(),
      [](std::string_view key) {
        return key.substr(0, 10) == "tokenizer." || key == "general.architecture";
      },
      vocab));
  return vocab;
}

std::string KernelCacheDir() {
  std::string dir = absl::GetFlag(FLAGS_kernel_cache);
  if (dir == "none") return "";
  if (!dir.empty()) return dir;
  if (const char* env = std::getenv("KILN_KERNEL_CACHE"); env != nullptr && *env != '\0') return env;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.cache/kiln/kernels";
  }
  return "";
}

// The cuBLASLt algorithm of each GEMM shape, per --tune_gemms: measured on
// this machine's GPU (gemm_tuner.h) or, where that cannot be, a record of
// the shapes saying why (the loader then asks the heuristic).
absl::StatusOr<GemmChoices> ChooseGemmAlgorithms(const std::vector<LaunchPlan>& plans,
                                                 const std::string& target) {
  const std::string mode = absl::GetFlag(FLAGS_tune_gemms);
  if (mode == "off") return UntunedGemmChoices(plans, target, "compiled with --tune_gemms off");
  absl::StatusOr<GemmChoices> tuned = TuneGemms(plans, target, 0, [](int done, int total) {
    std::fprintf(stderr, "\r  measuring cuBLASLt algorithms: %d/%d shapes", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  });
  if (tuned.ok()) return tuned;
  if (mode == "on") {
    return absl::FailedPreconditionError(
        absl::StrCat("--tune_gemms on needs a GPU of the target's architecture here: ",
                     tuned.status().message()));
  }
  return UntunedGemmChoices(plans, target, std::string(tuned.status().message()));
}

std::string GemmChoicesSummary(const GemmChoices& c) {
  if (!c.tuned) {
    return absl::StrCat("GEMM algorithms: not measured (", c.reason, "): ", c.shapes.size(),
                        " shapes recorded; loading asks cuBLASLt's heuristic");
  }
  // Over the shapes whose heuristic first choice ran (its time is 0 if not).
  double log_speedup = 0;
  int timed = 0;
  for (const GemmChoice& g : c.choices) {
    if (g.heuristic_us <= 0 || g.best_us <= 0) continue;
    log_speedup += std::log(g.heuristic_us / g.best_us);
    ++timed;
  }
  return absl::StrCat("GEMM algorithms: measured on ", c.device, " for ", c.choices.size(),
                      " shapes; geometric-mean speedup over the heuristic's first choice ",
                      absl::SixDigits(timed == 0 ? 1.0 : std::exp(log_speedup / timed)), "x");
}

// The CUDA target's part of the engine: launch plans for every bucket, the
// kernels they use compiled by NVRTC (cubin + PTX + ptxas reports), the plan
// listing; `summary` gets the kernel and arena lines compile-model prints.
absl::StatusOr<std::map<std::string, std::string>> CompileCudaKernels(const Module& module,
                                                                      const std::string& target,
                                                                      std::string& summary) {
  KILN_ASSIGN_OR_RETURN(codegen::DeviceInfo info, codegen::DeviceInfoForTarget(target));
  KILN_ASSIGN_OR_RETURN(StaticLayout layout, LayOutStaticSpaces(module));
  std::vector<LaunchPlan> plans;
  std::string listing;
  for (const Function& f : module.functions) {
    KILN_ASSIGN_OR_RETURN(plans.emplace_back(), BuildLaunchPlan(module, f.name, layout, info));
    absl::StrAppend(&listing, DumpLaunchPlan(plans.back()), "\n");
  }
  KILN_ASSIGN_OR_RETURN(KernelBundle bundle, CompileKernelBundle(plans, info, KernelCacheDir()));
  int64_t steps = 0;
  for (const LaunchPlan& p : plans) steps += static_cast<int64_t>(p.steps.size());
  int cached = 0, max_registers = 0;
  for (const BundledKernel& k : bundle.kernels) {
    cached += k.compiled.from_cache ? 1 : 0;
    max_registers = std::max(max_registers, k.compiled.report.registers);
  }
  summary = absl::StrCat("CUDA ", target, ": ", plans.size(), " launch plans with ", steps,
                         " steps in all; ", bundle.kernels.size(), " kernels compiled (", cached,
                         " from the NVRTC cache), at most ", max_registers, " registers a thread\n");
  for (const BundledKernel& k : bundle.kernels) {
    if (k.compiled.report.spills()) {
      absl::StrAppend(&summary, "warning: kernel ", k.function, " spills ",
                      k.compiled.report.spill_stores, " bytes (stores) to local memory\n");
    }
  }
  absl::StrAppend(&summary, "device arena: ", PlanDeviceArena(layout, plans).Summary(), "\n");
  KILN_ASSIGN_OR_RETURN(GemmChoices gemms, ChooseGemmAlgorithms(plans, target));
  absl::StrAppend(&summary, GemmChoicesSummary(gemms), "\n");
  std::map<std::string, std::string> files = KernelBundleFiles(bundle);
  files["kernel.launch_plans.txt"] = listing;
  files[kGemmChoicesFile] = GemmChoicesJson(gemms);
  return files;
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_model), out = absl::GetFlag(FLAGS_out);
  std::string target = absl::GetFlag(FLAGS_target);
  if (dir.empty() || out.empty()) return absl::InvalidArgumentError("--model and --out are required");
  if (const std::string tune = absl::GetFlag(FLAGS_tune_gemms);
      tune != "auto" && tune != "on" && tune != "off") {
    return absl::InvalidArgumentError("--tune_gemms must be auto, on or off, not '" + tune + "'");
  }
  if (target != "cpu" && target != "sm_80" && target != "sm_90") {
    return absl::InvalidArgumentError("--target must be cpu, sm_80 or sm_90");
  }
  std::optional<DType> dtype = DTypeFromName(absl::GetFlag(FLAGS_dtype));
  if (!dtype || !IsFloat(*dtype)) return absl::InvalidArgumentError("--dtype must be f32, bf16 or f16");
  int64_t max_batch = absl::GetFlag(FLAGS_max_batch);
  if (max_batch < 1) return absl::InvalidArgumentError("--max-batch must be at least 1");
  Clock::time_point start = Clock::now();
  Progress progress;

  progress.Step("reading the model's config and building the IR");
  KILN_ASSIGN_OR_RETURN(ModelSource source, OpenModelSource(dir));
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModel(ConfigReader(source.config, source.config_origin),
                                                     BuildOptions{*dtype}));
  int64_t max_seq = absl::GetFlag(FLAGS_max_seq);
  if (max_seq == 0) max_seq = std::min<int64_t>(model.info.max_positions, 2048);
  if (max_seq < 1 || max_seq > model.info.max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("--max-seq ", max_seq, " must be in [1, ",
                                                   model.info.max_positions,
                                                   "] (max_position_embeddings)"));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lengths,
                        ParseBuckets(absl::GetFlag(FLAGS_buckets), max_seq));

  progress.Step(source.gguf ? "loading and dequantising weights" : "loading weights");
  Engine engine;
  KILN_ASSIGN_OR_RETURN(engine.weights, LoadSourceWeights(source, model.module));

  progress.Step("specialising, fusing and planning memory");
  EngineManifest& m = engine.manifest;
  std::vector<int64_t> batches = {1};
  if (max_batch > 1) batches.push_back(max_batch);
  for (int64_t batch : batches) {
    m.buckets.push_back({absl::StrCat("decode_b", batch), batch, 1});
    for (int64_t len : lengths) {
      m.buckets.push_back({absl::StrCat("prefill_b", batch, "_s", len), batch, len});
    }
  }
  std::vector<BucketSpec> specs;
  for (const EngineBucket& b : m.buckets) specs.push_back({b.function, b.batch, b.seq});
  std::string plan;
  KILN_RETURN_IF_ERROR(CompileBuckets(
      model.module, kForwardFunction, specs, max_seq,
      [&](std::string_view, const std::string& report) { plan = report; }));

  std::string cuda_summary;
  if (target == "cpu") {
    progress.Step("generating kernels (cpu target: the reference executor runs the plan)");
  } else {
    progress.Step("planning launches and compiling kernels with NVRTC for " + target);
    KILN_ASSIGN_OR_RETURN(engine.kernel_files,
                          CompileCudaKernels(model.module, target, cuda_summary));
  }
  progress.Step("writing the engine");
  m.architecture = model.info.architecture;
  m.target = target;
  m.dtype = *dtype;
  m.max_batch = max_batch;
  m.max_seq = max_seq;
  m.bos_token_id = model.info.bos_token_id;
  m.eos_token_ids = model.info.eos_token_ids;
  engine.config = source.config;
  engine.chat_template = source.chat_template;
  // A template Kiln cannot render is kept (a later Kiln may render it) and
  // reported in the summary rather than at the first `generate --chat`.
  std::string chat_warning;
  if (!source.chat_template.empty()) {
    absl::StatusOr<ChatTemplate> chat = ChatTemplate::Parse(source.chat_template);
    if (!chat.ok()) chat_warning = std::string(chat.status().message());
  }
  engine.generation_config = source.generation_config;
  engine.module = std::move(model.module);
  std::string scratch = out + ".kiln-scratch";
  std::filesystem::create_directories(scratch);
  absl::StatusOr<std::string> tokenizer =
      TokenizerToBundle(source, absl::GetFlag(FLAGS_tokenizer), scratch);
  absl::Status written = tokenizer.ok() ? WriteEngine(out, engine, *tokenizer) : tokenizer.status();
  std::filesystem::remove_all(scratch);
  KILN_RETURN_IF_ERROR(written);
  progress.Finish();

  int64_t total_bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (entry.is_regular_file()) total_bytes += static_cast<int64_t>(entry.file_size());
  }
  std::fprintf(stderr, "compiled %s for %s (%s): %zu buckets, max batch %lld, max seq %lld\n",
               m.architecture.c_str(), target.c_str(), std::string(DTypeName(*dtype)).c_str(),
               m.buckets.size(), static_cast<long long>(max_batch),
               static_cast<long long>(max_seq));
  std::fprintf(stderr, "memory plan (activation arena per bucket):\n%s\n", plan.c_str());
  if (target == "cpu") {
    KILN_ASSIGN_OR_RETURN(DeviceArenaPlan arena, PlanDeviceArena(engine.module));
    std::fprintf(stderr, "device arena for the CUDA backend (estimate): %s\n",
                 arena.Summary().c_str());
  } else {
    std::fputs(cuda_summary.c_str(), stderr);
  }
  if (!chat_warning.empty()) {
    std::fprintf(stderr, "warning: generate --chat will fail on this engine: %s\n",
                 chat_warning.c_str());
  }
  std::fprintf(stderr, "wrote %s: %.2f MiB in %.2f s\n", out.c_str(),
               static_cast<double>(total_bytes) / (1 << 20),
               std::chrono::duration<double>(Clock::now() - start).count());
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "Compiles a Hugging Face model or a GGUF file into a Kiln engine directory.\n"
                       "  compile-model --model DIR|FILE.gguf --out ENGINE_DIR [--target cpu|sm_80|sm_90] "
                       "[--dtype f32|bf16|f16] [--max-batch N] [--max-seq N] [--buckets 16,64,...] "
                       "[--tokenizer tokenizer.json] [--kernel_cache DIR|none] "
                       "[--tune_gemms auto|on|off]");
  return kiln::ReportToolStatus("compile-model", kiln::Run());
}
