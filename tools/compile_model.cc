// compile-model: builds a Hugging Face checkpoint or a llama.cpp GGUF file
// into a Kiln engine directory (codegen/engine_format.h): the model's IR
// specialised per (batch, length) bucket, fused, memory-planned and planned
// into launch steps, with its weights in the engine dtype or block-quantized
// (on the cpu target a GGUF's quantized tensors are kept as stored unless
// --dequantize; --quantize makes q8_0/q4_0/q4_1/q4_k), its config, tokenizer and chat
// template, and a checksummed manifest.
//
//   bin/compile-model --model tests/fixtures/models/llama3/f32 --out /tmp/llama3.engine
//   bin/compile-model --model SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/smollm2.engine
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/compile_engine.h"
#include "codegen/plan/gemm_shapes.h"
#include "runtime/cuda/gemm_tuner.h"
#include "runtime/generate/chat_template.h"
#include "runtime/generate/generation_config.h"
#include "runtime/tokenizer/load.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, model, "",
          "Hugging Face model directory (config.json + safetensors) or a .gguf model file");
ABSL_FLAG(std::string, out, "", "engine directory to write");
ABSL_FLAG(std::string, target, "cpu", "cpu, sm_80 or sm_90");
ABSL_FLAG(std::string, dtype, "f32", "f32, bf16 or f16");
ABSL_FLAG(int64_t, max_batch, 1, "largest batch the engine serves");
ABSL_FLAG(int64_t, max_seq, 0, "KV-cache capacity in tokens (default: min(max_position_embeddings, 2048))");
ABSL_FLAG(std::string, buckets, "16,64,256", "prefill lengths to compile (each <= --max-seq)");
ABSL_FLAG(int64_t, verify_tokens, kiln::kDefaultVerifyTokens,
          "speculative decoding: the most drafted tokens one verify step takes (compiles steps of "
          "K + 1 tokens and the powers of two below; 0: none)");
ABSL_FLAG(std::string, quantize, "",
          "cpu target: store the matrix weights as q8_0, q4_0, q4_1 or q4_k (round to nearest, "
          "GGUF's block formats; default: as the source stores them)");
ABSL_FLAG(std::string, kv_dtype, "",
          "cpu target: the KV cache's dtype, f32, f16 or bf16 (default: --dtype's; f16 halves "
          "an f32 model's cache)");
ABSL_FLAG(bool, requantize, false,
          "with --quantize: also re-quantize tensors a GGUF already stores quantized");
ABSL_FLAG(bool, dequantize, false,
          "store every weight as floats in --dtype, also where the cpu target would keep a "
          "GGUF's block types (the float baseline for quantization quality)");
ABSL_FLAG(bool, plans_listing, false,
          "also write kernel.launch_plans.txt, the launch plans as readable text");
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
    std::fprintf(stderr, "[%d/%d] %s ...", ++step_, kCompileSteps, what.c_str());
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

absl::Status Run() {
  if (absl::GetFlag(FLAGS_model).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return absl::InvalidArgumentError("--model and --out are required");
  }
  if (const std::string tune = absl::GetFlag(FLAGS_tune_gemms);
      tune != "auto" && tune != "on" && tune != "off") {
    return absl::InvalidArgumentError("--tune_gemms must be auto, on or off, not '" + tune + "'");
  }
  if (const std::string target = absl::GetFlag(FLAGS_target);
      target != "cpu" && target != "sm_80" && target != "sm_90") {
    return absl::InvalidArgumentError("--target must be cpu, sm_80 or sm_90");
  }
  std::optional<DType> dtype = DTypeFromName(absl::GetFlag(FLAGS_dtype));
  if (!dtype || !IsFloat(*dtype)) {
    return absl::InvalidArgumentError("--dtype must be f32, bf16 or f16");
  }
  CompileOptions options;
  options.model = absl::GetFlag(FLAGS_model);
  options.out = absl::GetFlag(FLAGS_out);
  options.target = absl::GetFlag(FLAGS_target);
  options.dtype = *dtype;
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  options.max_seq = absl::GetFlag(FLAGS_max_seq);
  options.buckets = absl::GetFlag(FLAGS_buckets);
  options.verify_tokens = absl::GetFlag(FLAGS_verify_tokens);
  options.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  options.quantize = absl::GetFlag(FLAGS_quantize);
  options.requantize = absl::GetFlag(FLAGS_requantize);
  if (const std::string kv = absl::GetFlag(FLAGS_kv_dtype); !kv.empty()) {
    options.kv_dtype = DTypeFromName(kv);
    if (!options.kv_dtype || !IsFloat(*options.kv_dtype)) {
      return absl::InvalidArgumentError("--kv-dtype must be f32, bf16 or f16");
    }
  }
  options.dequantize = absl::GetFlag(FLAGS_dequantize);
  options.plans_listing = absl::GetFlag(FLAGS_plans_listing);
  options.kernel_cache_dir = KernelCacheDir();
  options.choose_gemms = ChooseGemmAlgorithms;
  options.check_generation_config = [](const nlohmann::json& json) {
    return GenerationDefaults(json).status();
  };
  // A tokenizer that does not fit the model is refused. One Kiln cannot load
  // (a kind it does not support, an incomplete vocabulary) is bundled all
  // the same, with a warning: the engine still serves id-level tools, and a
  // later Kiln may read it; generate refuses it with the loader's reason.
  options.check_tokenizer = [](const std::string& path, int64_t logits) -> absl::Status {
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tokenizer =
        tokenizer::LoadTokenizer(path);
    if (!tokenizer.ok()) {
      std::fprintf(stderr,
                   "compile-model: warning: the tokenizer cannot be loaded (%s); it is bundled "
                   "as it is, and generate will refuse the engine until it can be\n",
                   std::string(tokenizer.status().message()).c_str());
      return absl::OkStatus();
    }
    return tokenizer::CheckTokenizerFitsModel(**tokenizer, logits);
  };
  Progress progress;
  options.progress = [&](int, const std::string& what) { progress.Step(what); };
  const Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(CompileReport report, CompileEngine(options));
  progress.Finish();

  const EngineManifest& m = report.manifest;
  std::fprintf(stderr, "compiled %s for %s (%s): %zu buckets, max batch %lld, max seq %lld\n",
               m.architecture.c_str(), m.target.c_str(), std::string(DTypeName(m.dtype)).c_str(),
               m.buckets.size(), static_cast<long long>(m.max_batch),
               static_cast<long long>(m.max_seq));
  std::fprintf(stderr, "memory plan (activation arena per bucket):\n%s\n",
               report.memory_plan.c_str());
  std::fprintf(stderr, "%s\n", report.weights.c_str());
  if (m.target == "cpu") {
    std::fprintf(stderr, "CPU executor arena: %s\n", report.device_arena.c_str());
  } else {
    std::fputs(report.cuda_summary.c_str(), stderr);
  }
  // A template Kiln cannot render is kept (a later Kiln may render it) and
  // reported here rather than at the first `generate --chat`.
  if (!report.chat_template.empty()) {
    absl::StatusOr<ChatTemplate> chat = ChatTemplate::Parse(report.chat_template);
    if (!chat.ok()) {
      std::fprintf(stderr, "warning: generate --chat will fail on this engine: %s\n",
                   std::string(chat.status().message()).c_str());
    }
  }
  std::fprintf(stderr, "wrote %s: %.2f MiB in %.2f s\n", options.out.c_str(),
               static_cast<double>(report.engine_bytes) / (1 << 20),
               std::chrono::duration<double>(Clock::now() - start).count());
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(
      argc, argv,
      "Compiles a Hugging Face model or a GGUF file into a Kiln engine directory.\n"
      "  compile-model --model DIR|FILE.gguf --out ENGINE_DIR [--target cpu|sm_80|sm_90] "
      "[--dtype f32|bf16|f16] [--max-batch N] [--max-seq N] [--buckets 16,64,...] [--verify-tokens "
      "K] "
      "[--quantize q8_0|q4_0|q4_1|q4_k [--requantize] | --dequantize] [--kv-dtype f32|f16|bf16] "
      "[--tokenizer tokenizer.json] [--plans-listing] [--kernel_cache DIR|none] "
      "[--tune_gemms auto|on|off]");
  return kiln::ReportToolStatus("compile-model", kiln::Run());
}
