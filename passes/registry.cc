// The pass registry: every pass Kiln has, by name.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "passes/pass.h"
#include "passes/passes.h"

namespace kiln {
namespace {

constexpr PassOptionInfo kSpecializeOptions[] = {
    {"batch", "size bound to the symbol 'batch'"},
    {"seq", "size bound to 'seq' (1 for decode, k+1 to verify k draft tokens)"},
    {"cache", "size bound to 'cache' (the static KV-cache capacity)"},
    {"function", "only this function (default: all)"},
    {"as", "add the specialised copy of 'function' under this name"},
};

const PassInfo kPasses[] = {
    {"specialize-shapes", "binds symbolic dims (batch, seq, cache) to sizes", kSpecializeOptions,
     CreateSpecializeShapes},
    {"fuse-attention", "groups QKV projections, rope, cache writes and attention into one kernel",
     {}, CreateFuseAttention},
    {"fuse-mlp", "groups gate/up projections, activation, product, down projection and residual",
     {}, CreateFuseMlp},
    {"fuse-norm-residual", "groups a residual add with the norm that reads it", {},
     CreateFuseNormResidual},
    {"plan-memory", "assigns activations arena offsets with liveness-based reuse; reports the peak",
     {}, CreatePlanMemory},
    {"dce", "removes values that no result depends on", {}, CreateDeadCodeElimination},
    {"cse", "merges values computed twice from the same operands", {},
     CreateCommonSubexpressionElimination},
};

// Splits "name{k=v,k2=v2}" into the name and its options.
absl::Status ParseSpec(std::string_view spec, std::string& name, PassOptions& options) {
  size_t brace = spec.find('{');
  name = std::string(spec.substr(0, brace));
  if (brace == std::string_view::npos) return absl::OkStatus();
  if (spec.back() != '}') {
    return absl::InvalidArgumentError(absl::StrCat("pass spec '", std::string(spec),
                                                   "' must end with '}'"));
  }
  std::string_view body = spec.substr(brace + 1, spec.size() - brace - 2);
  while (!body.empty()) {
    size_t comma = body.find(',');
    std::string_view item = body.substr(0, comma);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("pass option '", std::string(item),
                                                     "' must be key=value"));
    }
    options[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const PassInfo> AllPasses() { return kPasses; }

absl::StatusOr<std::unique_ptr<Pass>> CreatePass(std::string_view spec) {
  std::string name;
  PassOptions options;
  KILN_RETURN_IF_ERROR(ParseSpec(spec, name, options));
  for (const PassInfo& info : kPasses) {
    if (info.name != name) continue;
    for (const auto& [key, value] : options) {
      bool known = false;
      for (const PassOptionInfo& option : info.options) known |= option.name == key;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("pass '", name, "' has no option '", key, "'"));
      }
    }
    return info.create(options);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown pass '", name, "' (see ir-opt --help)"));
}

}  // namespace kiln
