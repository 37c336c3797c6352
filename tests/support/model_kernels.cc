#include "tests/support/model_kernels.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "codegen/render.h"
#include "ir/builder.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "models/model.h"
#include "models/registry.h"
#include "passes/pipeline.h"

namespace kiln::codegen {
namespace {

// Adds `kernels` to `suite`, once per name; a second, different kernel of
// the same name means the buckets disagree.
absl::Status Merge(std::vector<KernelDesc> kernels, KernelSuite& suite) {
  std::map<std::string, std::string> seen;
  for (const KernelDesc& k : suite.kernels) {
    KILN_ASSIGN_OR_RETURN(seen[k.name], RenderCuda(k));
  }
  for (KernelDesc& k : kernels) {
    KILN_ASSIGN_OR_RETURN(std::string source, RenderCuda(k));
    auto it = seen.find(k.name);
    if (it != seen.end()) {
      if (it->second != source) {
        return absl::InternalError(
            absl::StrCat(suite.name, ": kernel ", k.name, " differs between buckets"));
      }
      continue;
    }
    seen[k.name] = source;
    suite.kernels.push_back(std::move(k));
  }
  return absl::OkStatus();
}

// The odd-size suite as IR: each line one kernel (fusion labels as the
// passes would set them).
constexpr char kOddSizeIr[] = R"(module @odd {
  func @odd(%ids: i32[rows], %h: T[rows,769], %o: T[rows,769], %g: T[rows,2053], %u: T[rows,2053], %w: T[769], %b: T[769], %table: T[50,769], %logits: T[rows,1031]) {
    %emb = embedding(%table, %ids) {index_offset=2} : T[rows,769]
    %scaled = scale(%emb) {factor=27.712812921102035} : T[rows,769]
    %sum = add(%h, %o) {fusion="rms"} : T[rows,769]
    %rms = rms_norm(%sum, %w) {eps=1e-05, fusion="rms"} : T[rows,769]
    %sum2 = add(%h, %o) {fusion="gemma_rms"} : T[rows,769]
    %gemma_rms = rms_norm(%sum2, %w) {eps=1e-06, weight_offset=1, fusion="gemma_rms"} : T[rows,769]
    %plain_rms = rms_norm(%h, %w) {eps=1e-06} : T[rows,769]
    %sum3 = add(%h, %o) {fusion="ln"} : T[rows,769]
    %ln = layer_norm(%sum3, %w, %b) {eps=1e-05, fusion="ln"} : T[rows,769]
    %silu = silu(%g) {fusion="swiglu"} : T[rows,2053]
    %swiglu = mul(%silu, %u) {fusion="swiglu"} : T[rows,2053]
    %gelu = gelu_tanh(%g) {fusion="geglu"} : T[rows,2053]
    %geglu = mul(%gelu, %u) {fusion="geglu"} : T[rows,2053]
    %gelu_erf = gelu_erf(%g) {fusion="geglu_erf"} : T[rows,2053]
    %geglu_erf = mul(%gelu_erf, %u) {fusion="geglu_erf"} : T[rows,2053]
    %relu = relu(%g) : T[rows,2053]
    %residual = add(%h, %o) : T[rows,769]
    %bias = add(%h, %b) : T[rows,769]
    %cast = cast(%h) : f32[rows,769]
    %next = argmax(%logits) : i32[rows]
    return %scaled, %rms, %sum, %gemma_rms, %plain_rms, %ln, %sum3, %swiglu, %geglu, %geglu_erf, %relu, %residual, %bias, %cast, %next
  }
}
)";

}  // namespace

absl::StatusOr<KernelSuite> ModelKernels(const std::string& name, const std::string& dir,
                                         DType dtype, const GpuTarget& info, int64_t cache) {
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModelFromDir(dir, BuildOptions{dtype, std::nullopt}));
  // compile-model's pipeline, on a decode and a batched prefill bucket.
  KILN_RETURN_IF_ERROR(CompileBuckets(model.module, kForwardFunction,
                                      {{"decode_b1", 1, 1}, {"prefill_b2_s8", 2, 8}}, cache));
  KernelSuite suite;
  suite.name = name;
  for (const Function& f : model.module.functions) {
    KILN_ASSIGN_OR_RETURN(LoweredFunction lowered, LowerFunction(f, info));
    if (suite.not_generated.empty()) suite.not_generated = lowered.not_generated;
    KILN_RETURN_IF_ERROR(Merge(std::move(lowered.kernels), suite));
  }
  std::vector<KernelDesc> sample;
  KILN_ASSIGN_OR_RETURN(sample.emplace_back(), LowerSampleArgmax(dtype, model.info.vocab_size, info));
  KILN_RETURN_IF_ERROR(Merge(std::move(sample), suite));
  return suite;
}

absl::StatusOr<KernelSuite> OddSizeKernels(DType dtype, const GpuTarget& info) {
  const std::string dt(DTypeName(dtype));
  std::string text = absl::StrReplaceAll(kOddSizeIr, {{"T[", dt + "["}});
  if (dtype == DType::kF32) {
    // f32 -> f32 casts are identities: cast to bf16 instead.
    text = absl::StrReplaceAll(text, {{"%cast = cast(%h) : f32", "%cast = cast(%h) : bf16"}});
  }
  KILN_ASSIGN_OR_RETURN(Module m, ParseModule(text));
  KernelSuite suite;
  suite.name = absl::StrCat("odd_", dt);
  KILN_ASSIGN_OR_RETURN(LoweredFunction lowered, LowerFunction(m.functions[0], info));
  suite.kernels = std::move(lowered.kernels);
  suite.not_generated = std::move(lowered.not_generated);
  return suite;
}

std::vector<FixtureModel> FixtureModels() {
  std::vector<FixtureModel> out;
  for (const char* family : {"gemma", "llama2", "llama3", "mistral", "opt", "opt350"}) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      const std::string dt(DTypeName(dtype));
      out.push_back({absl::StrCat(family, "_", dt), absl::StrCat(family, "/", dt), dtype});
    }
  }
  return out;
}

absl::StatusOr<std::string> SuiteCudaSource(const KernelSuite& suite) {
  std::string out = CudaPrelude();
  for (const KernelDesc& k : suite.kernels) {
    KILN_ASSIGN_OR_RETURN(std::string source, RenderCuda(k));
    absl::StrAppend(&out, "\n", source);
  }
  return out;
}

}  // namespace kiln::codegen
