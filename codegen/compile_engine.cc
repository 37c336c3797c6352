#include "codegen/compile_engine.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "codegen/gpu_target.h"
#include "codegen/engine_writer.h"
#include "codegen/weight_storage.h"
#include "codegen/plan/arena_plan.h"
#include "codegen/plan/build_launch_plan.h"
#include "codegen/plan/compile_kernels.h"
#include "codegen/plan/gemm_shapes.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan_json.h"
#include "ir/step_function.h"
#include "models/checkpoint.h"
#include "models/config_reader.h"
#include "models/gguf_model.h"
#include "models/gguf_weights.h"
#include "models/gguf_writer.h"
#include "models/registry.h"
#include "models/weights.h"
#include "passes/pipeline.h"

namespace kiln {
namespace {

// Chat templates are a few KiB; the cap only stops a wrong file.
constexpr size_t kMaxChatTemplateBytes = size_t{1} << 24;

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
    return ReadFileToString(dir + "/chat_template.jinja", kMaxChatTemplateBytes);
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

absl::StatusOr<ModelSource> OpenModelSource(const std::string& path,
                                            const CompileOptions& options) {
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
      if (options.check_generation_config) {
        KILN_RETURN_IF_ERROR(options.check_generation_config(generation.json()));
      }
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

// Where the tokenizer TokenizerToBundle bundles comes from: --tokenizer,
// else the directory's tokenizer.json, else a GGUF file's own vocabulary
// (the file itself); empty if none.
std::string TokenizerSourcePath(const ModelSource& source, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (!source.gguf) {
    const std::string json = source.path + "/tokenizer.json";
    return std::filesystem::exists(json) ? json : std::string();
  }
  return source.gguf->file().Has("tokenizer.ggml.tokens") ? source.path : std::string();
}

// The tokenizer file to bundle: --tokenizer, else the directory's
// tokenizer.json, else for a GGUF model a vocabulary-only copy of its
// tokenizer.* metadata written to `scratch`/tokenizer.gguf. Empty if none.
absl::StatusOr<std::string> TokenizerToBundle(const ModelSource& source, const std::string& flag,
                                              const std::string& scratch) {
  const std::string path = TokenizerSourcePath(source, flag);
  if (path.empty() || !flag.empty() || !source.gguf) return path;
  std::string vocab = scratch + "/tokenizer.gguf";
  KILN_RETURN_IF_ERROR(WriteGgufMetadata(
      source.gguf->file(),
      [](std::string_view key) {
        return key.substr(0, 10) == "tokenizer." || key == "general.architecture";
      },
      vocab));
  return vocab;
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

// kernel.launch_plans.txt (--plans-listing): every plan, readable.
std::string PlansListing(const std::vector<LaunchPlan>& plans) {
  std::string listing;
  for (const LaunchPlan& p : plans) absl::StrAppend(&listing, DumpLaunchPlan(p), "\n");
  return listing;
}

// The CUDA target's part of the engine: launch plans for every bucket, the
// kernels they use compiled by NVRTC (cubin + PTX + ptxas reports), the plan
// listing; `summary` gets the kernel and arena lines compile-model prints.
absl::StatusOr<std::map<std::string, std::string>> CompileCudaKernels(
    const Module& module, const CompileOptions& options, std::string& summary,
    std::string& device_arena) {
  const std::string& target = options.target;
  KILN_ASSIGN_OR_RETURN(codegen::GpuTarget info, codegen::GpuTargetByName(target));
  KILN_ASSIGN_OR_RETURN(PlannedEngine built, BuildEnginePlans(module, target));
  const StaticLayout& layout = built.layout;
  const std::vector<LaunchPlan>& plans = built.plans;
  KILN_ASSIGN_OR_RETURN(KernelBundle bundle, CompileKernelBundle(plans, info, options.kernel_cache_dir));
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
  device_arena = PlanDeviceArena(layout, plans).Summary();
  absl::StrAppend(&summary, "device arena: ", device_arena, "\n");
  GemmChoices gemms;
  if (options.choose_gemms) {
    KILN_ASSIGN_OR_RETURN(gemms, options.choose_gemms(plans, target));
  } else {
    gemms = UntunedGemmChoices(plans, target, "no GEMM tuner given");
  }
  absl::StrAppend(&summary, GemmChoicesSummary(gemms), "\n");
  std::map<std::string, std::string> files = KernelBundleFiles(bundle);
  if (options.plans_listing) files[kEnginePlansListingFile] = PlansListing(plans);
  files[kEngineLaunchPlansFile] = LaunchPlansToJson(layout, plans);
  files[kGemmChoicesFile] = GemmChoicesJson(gemms);
  return files;
}

// The cpu target's part of the engine: every bucket's launch plan, run by
// the CPU executor (runtime/cpu) with its own kernels.
absl::StatusOr<std::map<std::string, std::string>> PlanCpuSteps(const Module& module,
                                                                const CompileOptions& options,
                                                                std::string& arena) {
  KILN_ASSIGN_OR_RETURN(PlannedEngine built, BuildEnginePlans(module, "cpu"));
  arena = PlanDeviceArena(built.layout, built.plans).Summary();
  std::map<std::string, std::string> files = {
      {kEngineLaunchPlansFile, LaunchPlansToJson(built.layout, built.plans)}};
  if (options.plans_listing) files[kEnginePlansListingFile] = PlansListing(built.plans);
  return files;
}

}  // namespace

absl::StatusOr<int64_t> ResolveMaxSeq(int64_t flag, int64_t max_positions) {
  const int64_t max_seq = flag == 0 ? std::min<int64_t>(max_positions, 2048) : flag;
  if (max_seq < 1 || max_seq > max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("--max-seq ", max_seq, " must be in [1, ",
                                                   max_positions, "] (max_position_embeddings)"));
  }
  return max_seq;
}

absl::StatusOr<std::vector<BucketSpec>> EngineBucketSpecs(const std::string& buckets,
                                                          int64_t max_batch, int64_t max_seq,
                                                          int64_t verify_tokens) {
  if (max_batch < 1) return absl::InvalidArgumentError("--max-batch must be at least 1");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lengths, ParseBuckets(buckets, max_seq));
  if (verify_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--verify-tokens must be >= 0 (0: none), got ", verify_tokens));
  }
  verify_tokens = EngineVerifyTokens(verify_tokens, max_seq);
  std::vector<int64_t> verify;
  if (verify_tokens > 0) {
    for (int64_t n = 2; n < verify_tokens + 1; n *= 2) verify.push_back(n);
    verify.push_back(verify_tokens + 1);
  }
  std::vector<int64_t> batches = {1};
  if (max_batch > 1) batches.push_back(max_batch);
  std::vector<BucketSpec> specs;
  for (int64_t batch : batches) {
    specs.push_back({absl::StrCat("decode_b", batch), batch, 1});
    for (int64_t len : lengths) {
      specs.push_back({absl::StrCat("prefill_b", batch, "_s", len), batch, len});
    }
    for (int64_t len : verify) {
      if (std::find(lengths.begin(), lengths.end(), len) != lengths.end()) continue;
      specs.push_back({absl::StrCat("verify_b", batch, "_s", len), batch, len});
    }
  }
  return specs;
}

absl::StatusOr<PlannedEngine> BuildEnginePlans(const Module& module, const std::string& target) {
  // The cpu target's plans are built with the A100 preset: the steps, their
  // order and the arena do not depend on it; the CUDA launch fields it sets
  // (threads, tiles, splits) the CPU executor does not read.
  codegen::GpuTarget info = codegen::A100Target();
  if (target != "cpu") {
    KILN_ASSIGN_OR_RETURN(info, codegen::GpuTargetByName(target));
  }
  PlannedEngine out;
  KILN_ASSIGN_OR_RETURN(out.layout, LayOutStaticSpaces(module));
  for (const Function& f : module.functions) {
    KILN_ASSIGN_OR_RETURN(out.plans.emplace_back(),
                          BuildLaunchPlan(module, f.name, out.layout, info));
  }
  return out;
}

absl::StatusOr<CompileReport> CompileEngine(const CompileOptions& options) {
  const std::string& target = options.target;
  if (options.model.empty() || options.out.empty()) {
    return absl::InvalidArgumentError("--model and --out are required");
  }
  if (target != "cpu" && target != "sm_80" && target != "sm_90") {
    return absl::InvalidArgumentError("--target must be cpu, sm_80 or sm_90");
  }
  if (!IsFloat(options.dtype)) {
    return absl::InvalidArgumentError("--dtype must be f32, bf16 or f16");
  }
  if (options.kv_dtype && !IsFloat(*options.kv_dtype)) {
    return absl::InvalidArgumentError("--kv-dtype must be f32, bf16 or f16");
  }
  if (options.kv_dtype && *options.kv_dtype != options.dtype && target != "cpu") {
    return absl::InvalidArgumentError(
        "--kv-dtype other than --dtype needs the cpu target (the CUDA kernels keep the cache in "
        "the model dtype)");
  }
  const int64_t max_batch = options.max_batch;
  if (max_batch < 1) return absl::InvalidArgumentError("--max-batch must be at least 1");
  auto step = [&, n = 0](const std::string& what) mutable {
    if (options.progress) options.progress(++n, what);
  };

  step("reading the model's config and building the IR");
  KILN_ASSIGN_OR_RETURN(ModelSource source, OpenModelSource(options.model, options));
  KILN_ASSIGN_OR_RETURN(
      BuiltModel model,
      BuildModel(ConfigReader(source.config, source.config_origin),
                 BuildOptions{options.dtype, options.kv_dtype}));
  if (options.check_tokenizer) {  // before minutes of loading and compiling
    const std::string tokenizer = TokenizerSourcePath(source, options.tokenizer);
    if (!tokenizer.empty()) {
      KILN_RETURN_IF_ERROR(options.check_tokenizer(tokenizer, model.info.vocab_size));
    }
  }
  KILN_ASSIGN_OR_RETURN(const int64_t max_seq,
                        ResolveMaxSeq(options.max_seq, model.info.max_positions));
  KILN_ASSIGN_OR_RETURN(
      std::vector<BucketSpec> specs,
      EngineBucketSpecs(options.buckets, max_batch, max_seq, options.verify_tokens));

  if (options.dequantize && !options.quantize.empty()) {
    return absl::InvalidArgumentError(
        "--dequantize and --quantize exclude each other (one stores floats, the other blocks)");
  }
  WeightStorageOptions storage;
  if (!options.quantize.empty()) {
    KILN_ASSIGN_OR_RETURN(storage.quantize, ParseQuantizeFlag(options.quantize));
  }
  storage.requantize = options.requantize;
  storage.allow_blocks = target == "cpu" && options.dtype == DType::kF32 && !options.dequantize;
  const bool keep_gguf = source.gguf && storage.allow_blocks;
  step(keep_gguf ? "loading weights (block types kept as the GGUF stores them)"
       : source.gguf ? "loading and dequantising weights"
                     : "loading weights");
  EngineContents engine;
  WeightMap loaded;
  if (!keep_gguf) {
    KILN_ASSIGN_OR_RETURN(loaded, LoadSourceWeights(source, model.module));
  }
  KILN_ASSIGN_OR_RETURN(EngineWeights weights,
                        StoreEngineWeights(model.module, keep_gguf ? &*source.gguf : nullptr,
                                           std::move(loaded), storage));
  engine.weights = std::move(weights.floats);
  engine.quantized_weights = std::move(weights.blocks);

  step("specialising, fusing and planning memory");
  EngineManifest& m = engine.manifest;
  for (const BucketSpec& b : specs) m.buckets.push_back({b.function, b.batch, b.seq});
  std::string plan;
  KILN_RETURN_IF_ERROR(CompileBuckets(
      model.module, kForwardFunction, specs, max_seq,
      [&](std::string_view, const std::string& report) { plan = report; }));

  CompileReport report;
  report.memory_plan = plan;
  report.weights = weights.summary;
  if (target == "cpu") {
    step("planning the CPU executor's steps");
    KILN_ASSIGN_OR_RETURN(engine.kernel_files,
                          PlanCpuSteps(model.module, options, report.device_arena));
  } else {
    step("planning launches and compiling kernels with NVRTC for " + target);
    KILN_ASSIGN_OR_RETURN(engine.kernel_files,
                          CompileCudaKernels(model.module, options, report.cuda_summary,
                                             report.device_arena));
  }
  step("writing the engine");
  m.architecture = model.info.architecture;
  m.target = target;
  m.dtype = options.dtype;
  m.max_batch = max_batch;
  m.max_seq = max_seq;
  m.verify_tokens = EngineVerifyTokens(options.verify_tokens, max_seq);
  m.bos_token_id = model.info.bos_token_id;
  m.eos_token_ids = model.info.eos_token_ids;
  engine.config = source.config;
  engine.chat_template = source.chat_template;
  engine.generation_config = source.generation_config;
  engine.module = std::move(model.module);
  std::string scratch = options.out + ".kiln-scratch";
  std::filesystem::create_directories(scratch);
  absl::StatusOr<std::string> tokenizer =
      TokenizerToBundle(source, options.tokenizer, scratch);
  absl::Status written =
      tokenizer.ok() ? WriteEngine(options.out, engine, *tokenizer) : tokenizer.status();
  std::filesystem::remove_all(scratch);
  KILN_RETURN_IF_ERROR(written);
  report.manifest = m;
  report.chat_template = source.chat_template;
  for (const auto& entry : std::filesystem::directory_iterator(options.out)) {
    if (entry.is_regular_file()) report.engine_bytes += static_cast<int64_t>(entry.file_size());
  }
  return report;
}

}  // namespace kiln
