// Llama (Llama 2 and Llama 3 configs) as in Transformers' modeling_llama.py:
// pre-RMSNorm decoder, rotary attention with grouped KV heads, SwiGLU MLP.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/architectures.h"
#include "models/decoder.h"

namespace kiln {

absl::StatusOr<Op> ActivationOp(const ConfigReader& config, const std::string& key,
                                const std::string& name) {
  if (name == "silu" || name == "swish") return Op::kSilu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Op::kGeluTanh;
  if (name == "gelu") return Op::kGeluErf;
  if (name == "relu") return Op::kRelu;
  return config.FieldError(key, absl::StrCat("'", name, "' is not a supported activation "
                                                          "(silu, gelu_pytorch_tanh, gelu, relu)"));
}

absl::StatusOr<BuiltModel> BuildLlama(const ConfigReader& config, const BuildOptions& options) {
  RotaryDecoderSpec spec;
  spec.module_name = "llama";
  spec.dtype = options.dtype;
  spec.cache_dtype = options.cache_dtype();
  KILN_RETURN_IF_ERROR(ReadRotaryDecoderFields(config, /*tie_default=*/false, spec));
  KILN_ASSIGN_OR_RETURN(std::string act, config.String("hidden_act", "silu"));
  KILN_ASSIGN_OR_RETURN(spec.activation, ActivationOp(config, "hidden_act", act));
  return BuildRotaryDecoderModel(config, spec, "LlamaForCausalLM");
}

}  // namespace kiln
