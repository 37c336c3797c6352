// Prints the CUDA source of one attention kernel variant, for reading and
// for compiling by hand (nvcc -arch=sm_90 -cubin -Xptxas=-v):
//   print_attention_kernel KIND HEAD_DIM HEADS KV_HEADS DTYPE TARGET
// e.g. `print_attention_kernel prefill 128 32 8 bf16 h100`.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/gpu_target.h"

int main(int argc, char** argv) {
  using namespace kiln::codegen::attention;
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: %s prefill|decode|combine|rope_kv_write HEAD_DIM HEADS KV_HEADS "
                 "f32|f16|bf16 a100|h100\n",
                 argv[0]);
    return 2;
  }
  const std::string kind_name = argv[1];
  KernelKind kind = KernelKind::kPrefill;
  bool known = false;
  for (KernelKind k : {KernelKind::kPrefill, KernelKind::kDecode, KernelKind::kCombine,
                       KernelKind::kRopeKvWrite}) {
    if (KernelKindName(k) == kind_name) kind = k, known = true;
  }
  std::optional<kiln::DType> dtype = kiln::DTypeFromName(argv[5]);
  auto info = kiln::codegen::GpuTargetByName(argv[6]);
  if (!known || !dtype.has_value() || !info.ok()) {
    std::fprintf(stderr, "unknown kernel kind, dtype or target\n");
    return 2;
  }
  AttentionShape shape{.head_dim = std::atoi(argv[2]),
                       .heads = std::atoi(argv[3]),
                       .kv_heads = std::atoi(argv[4]),
                       .dtype = *dtype};
  auto variant = VariantFor(kind, shape, *info);
  if (!variant.ok()) {
    std::fprintf(stderr, "%s\n", std::string(variant.status().message()).c_str());
    return 1;
  }
  auto source = RenderAttentionCuda(*variant);
  if (!source.ok()) {
    std::fprintf(stderr, "%s\n", std::string(source.status().message()).c_str());
    return 1;
  }
  std::fputs(source->c_str(), stdout);
  return 0;
}
