// run-reference: builds a Hugging Face model's IR from its config.json,
// loads its safetensors and greedily generates on the CPU reference
// executor. Prompts are token ids until the tokenizer library lands.
//
//   bin/run-reference --model tests/fixtures/models/llama3/f32
//       --prompt-ids 55,112,80,172 --max-new-tokens 8
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "runtime/engine/engine.h"
#include "runtime/reference/session.h"
#include "models/weights.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, model, "", "Hugging Face model directory (config.json + safetensors)");
ABSL_FLAG(std::string, engine, "", "engine directory written by compile-model (instead of --model)");
ABSL_FLAG(std::string, dtype, "f32", "dtype of activations and weights: f32, bf16 or f16");
ABSL_FLAG(std::string, prompt_ids, "1", "comma-separated prompt token ids");
ABSL_FLAG(int, max_new_tokens, 8, "tokens to generate greedily");
ABSL_FLAG(bool, print_ir, false, "print the model's IR in text form and exit");
ABSL_FLAG(int, top, 0,
          "also print {\"top\": [...]}: the N most likely next tokens after the prompt");

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(piece, &id)) {
      return absl::InvalidArgumentError("--prompt-ids: '" + std::string(piece) +
                                        "' is not an integer token id");
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--prompt-ids: the prompt is empty");
  return ids;
}

int32_t Argmax(const HostTensor& logits, int64_t row) {
  int64_t v = logits.shape.back();
  const float* p = logits.floats.data() + row * v;
  return static_cast<int32_t>(std::max_element(p, p + v) - p);
}

// A model ready to run: an executor, the session's cache limit and, for an
// engine, its compiled buckets.
struct Runnable {
  ReferenceExecutor executor;
  int64_t max_positions;
  std::vector<SessionBucket> buckets;
};

// The `n` largest logits of `row`, most likely first (ties: lower id first).
std::vector<int32_t> TopIds(const HostTensor& logits, int64_t row, int n) {
  const int64_t vocab = logits.shape.back();
  const float* p = logits.floats.data() + row * vocab;
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) ids[i] = static_cast<int32_t>(i);
  const int64_t k = std::clamp<int64_t>(n, 0, vocab);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  ids.resize(static_cast<size_t>(k));
  return ids;
}

absl::StatusOr<Runnable> LoadModelDir(const std::string& dir, DType dtype) {
  Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModelFromDir(dir, BuildOptions{dtype, std::nullopt}));
  const ModelInfo& info = model.info;
  std::fprintf(stderr, "built %s IR: %lld layers, vocab %lld, %zu nodes, %zu weights\n",
               info.architecture.c_str(), static_cast<long long>(info.num_layers),
               static_cast<long long>(info.vocab_size), model.module.functions[0].nodes.size(),
               model.module.weights.size());
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
  KILN_ASSIGN_OR_RETURN(WeightMap weights, LoadWeights(model.module, checkpoint));
  KILN_ASSIGN_OR_RETURN(ReferenceExecutor executor,
                        ReferenceExecutor::Create(std::move(model.module), std::move(weights)));
  std::fprintf(stderr, "loaded weights in %.2f s\n", SecondsSince(start));
  return Runnable{std::move(executor), info.max_positions, {}};
}

absl::StatusOr<Runnable> LoadEngineDir(const std::string& dir) {
  Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(Engine engine, LoadEngine(dir, "cpu"));
  std::vector<SessionBucket> buckets;
  for (const EngineBucket& b : engine.manifest.buckets) {
    if (b.batch == 1) buckets.push_back({b.function, b.seq});
  }
  int64_t max_seq = engine.manifest.max_seq;
  std::fprintf(stderr, "loaded %s engine (%zu buckets, max seq %lld) in %.2f s\n",
               engine.manifest.architecture.c_str(), buckets.size(),
               static_cast<long long>(max_seq), SecondsSince(start));
  KILN_ASSIGN_OR_RETURN(ReferenceExecutor executor,
                        ReferenceExecutor::Create(std::move(engine.module), std::move(engine.weights)));
  return Runnable{std::move(executor), max_seq, std::move(buckets)};
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_model), engine_dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty() == engine_dir.empty()) {
    return absl::InvalidArgumentError("give exactly one of --model and --engine (see --help)");
  }
  std::optional<DType> dtype = DTypeFromName(absl::GetFlag(FLAGS_dtype));
  if (!dtype || !IsFloat(*dtype)) {
    return absl::InvalidArgumentError("--dtype must be f32, bf16 or f16");
  }
  int max_new = absl::GetFlag(FLAGS_max_new_tokens);
  if (max_new < 1) return absl::InvalidArgumentError("--max-new-tokens must be at least 1");
  KILN_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, ParseIds(absl::GetFlag(FLAGS_prompt_ids)));
  if (absl::GetFlag(FLAGS_print_ir)) {
    if (dir.empty()) return absl::InvalidArgumentError("--print-ir needs --model");
    KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModelFromDir(dir, BuildOptions{*dtype, std::nullopt}));
    std::fputs(PrintModule(model.module).c_str(), stdout);
    return absl::OkStatus();
  }
  KILN_ASSIGN_OR_RETURN(Runnable runnable,
                        dir.empty() ? LoadEngineDir(engine_dir) : LoadModelDir(dir, *dtype));
  ReferenceExecutor& executor = runnable.executor;
  int64_t capacity = static_cast<int64_t>(prompt.size()) + max_new;
  if (capacity > runnable.max_positions) {
    return absl::InvalidArgumentError(
        "prompt (" + std::to_string(prompt.size()) + " tokens) plus --max-new-tokens (" +
        std::to_string(max_new) + ") exceeds the model's limit of " +
        std::to_string(runnable.max_positions) + " positions");
  }
  if (!runnable.buckets.empty()) capacity = runnable.max_positions;  // the compiled cache size
  Clock::time_point start;
  KILN_ASSIGN_OR_RETURN(ReferenceSession session,
                        ReferenceSession::Create(executor, capacity, runnable.buckets));
  start = Clock::now();
  KILN_ASSIGN_OR_RETURN(HostTensor logits, session.Forward(prompt));
  std::vector<int32_t> generated = {Argmax(logits, logits.shape[0] - 1)};
  double prefill_s = SecondsSince(start);
  std::vector<int32_t> top = TopIds(logits, logits.shape[0] - 1, absl::GetFlag(FLAGS_top));
  start = Clock::now();
  while (static_cast<int>(generated.size()) < max_new) {
    int32_t last = generated.back();
    KILN_ASSIGN_OR_RETURN(logits, session.Forward(std::span<const int32_t>(&last, 1)));
    generated.push_back(Argmax(logits, 0));
  }
  double decode_s = SecondsSince(start);
  std::printf("prompt ids: %s\nnext tokens: %s\n", absl::StrJoin(prompt, ",").c_str(),
              absl::StrJoin(generated, ",").c_str());
  if (!top.empty()) std::printf("{\"top\": [%s]}\n", absl::StrJoin(top, ", ").c_str());
  std::fprintf(stderr, "prefill %zu tokens: %.3f s; decode %zu tokens: %.3f s (CPU reference)\n",
               prompt.size(), prefill_s, generated.size() - 1, decode_s);
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "Greedy generation with Kiln's CPU reference executor.\n"
                       "  run-reference --model DIR|--engine DIR [--dtype f32|bf16|f16] [--prompt-ids 1,2,3] "
                       "[--max-new-tokens N] [--top N] [--print-ir]");
  return kiln::ReportToolStatus("run-reference", kiln::Run());
}
