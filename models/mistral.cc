// Mistral as in Transformers' modeling_mistral.py: the Llama decoder with
// sliding-window attention (a query at position p sees keys p - w < j <= p).
#include "base/status_macros.h"
#include "models/architectures.h"
#include "models/decoder.h"

namespace kiln {

absl::StatusOr<BuiltModel> BuildMistral(const ConfigReader& config, const BuildOptions& options) {
  RotaryDecoderSpec spec;
  spec.module_name = "mistral";
  spec.dtype = options.dtype;
  spec.cache_dtype = options.cache_dtype();
  KILN_RETURN_IF_ERROR(ReadRotaryDecoderFields(config, /*tie_default=*/false, spec));
  KILN_ASSIGN_OR_RETURN(std::string act, config.String("hidden_act", "silu"));
  KILN_ASSIGN_OR_RETURN(spec.activation, ActivationOp(config, "hidden_act", act));
  // null or absent: full causal attention.
  if (config.Has("sliding_window")) {
    KILN_ASSIGN_OR_RETURN(spec.sliding_window, config.PositiveInt("sliding_window"));
  }
  return BuildRotaryDecoderModel(config, spec, "MistralForCausalLM");
}

}  // namespace kiln
