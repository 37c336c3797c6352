// Gemma (v1) as in Transformers' modeling_gemma.py: the Llama decoder with
// embeddings scaled by sqrt(hidden), RMSNorm scaling by (1 + w), a GeGLU MLP
// with tanh-approximated GELU, and tied embeddings.
#include "base/status_macros.h"
#include "models/architectures.h"
#include "models/decoder.h"

namespace kiln {

absl::StatusOr<BuiltModel> BuildGemma(const ConfigReader& config, const BuildOptions& options) {
  RotaryDecoderSpec spec;
  spec.module_name = "gemma";
  spec.dtype = options.dtype;
  spec.cache_dtype = options.cache_dtype();
  spec.norm_weight_offset = 1.0;
  spec.scale_embeddings = true;
  KILN_RETURN_IF_ERROR(ReadRotaryDecoderFields(config, /*tie_default=*/true, spec));
  // Transformers reads hidden_activation and, when it is unset, uses the
  // tanh approximation whatever hidden_act says.
  KILN_ASSIGN_OR_RETURN(std::string act, config.String("hidden_activation", "gelu_pytorch_tanh"));
  KILN_ASSIGN_OR_RETURN(spec.activation, ActivationOp(config, "hidden_activation", act));
  return BuildRotaryDecoderModel(config, spec, "GemmaForCausalLM");
}

}  // namespace kiln
