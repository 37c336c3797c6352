// Kernel description -> host C++: the CUDA rendering's statements in the
// same order, with the block of threads unrolled into a loop over t and the
// per-thread partial sums combined by host_runtime.h's copy of the
// warp-shuffle tree.
#include "absl/strings/str_cat.h"
#include "codegen/render.h"
#include "codegen/render_common.h"
#include "base/status_macros.h"

namespace kiln::codegen {

absl::StatusOr<std::string> RenderHost(const KernelDesc& desc) {
  KILN_RETURN_IF_ERROR(ValidateKernel(desc));
  std::string s = render::IrComment(desc);
  absl::StrAppend(&s, "void ", desc.name, "(void* const* buffers, long long rows) {\n");
  for (size_t k = 0; k < desc.buffers.size(); ++k) {
    const KernelBuffer& b = desc.buffers[k];
    const std::string type = absl::StrCat(b.output ? "" : "const ", render::StorageCType(b.dtype));
    absl::StrAppend(&s, "  ", type, "* __restrict__ b", k, " = static_cast<", type,
                    "*>(buffers[", k, "]);  // ", b.name, "\n");
  }
  absl::StrAppend(&s, "  constexpr int kThreads = ", desc.threads, ";\n");
  s += "  for (long long r = 0; r < rows; ++r) {\n";
  s += render::GatherPrologue(desc);
  auto acc = [](int id, const char* suffix) { return absl::StrCat("a", id, suffix, "[t]"); };
  auto decl = [](const char* type, std::string name, const char* init) {
    return absl::StrCat("  ", type, " ", name, "[kThreads];\n  for (int t = 0; t < kThreads; ++t) ",
                        name, "[t] = ", init, ";\n");
  };
  for (int k = 0; k < desc.num_loops(); ++k) {
    absl::StrAppend(&s, "  // loop ", k, "\n", render::Accumulators(desc, k, decl));
    absl::StrAppend(&s, "  for (int t = 0; t < kThreads; ++t) {\n",
                    "    for (int i = t; i < ", desc.cols, "; i += kThreads) {\n");
    for (size_t id = 0; id < desc.instrs.size(); ++id) {
      const Instr& in = desc.instrs[id];
      if (in.loop == k && !in.after_loop) {
        absl::StrAppend(&s, "      ", render::Statement(desc, static_cast<int>(id), acc), "\n");
      }
    }
    s += "    }\n  }\n";
    for (size_t id = 0; id < desc.instrs.size(); ++id) {
      const Instr& in = desc.instrs[id];
      if (in.loop != k || in.after_loop) continue;
      if (in.op == Opcode::kReduceSum) {
        absl::StrAppend(&s, "  const double v", id, " = kiln_block_sum(a", id, ", kThreads);\n");
      } else if (in.op == Opcode::kReduceArgmax) {
        absl::StrAppend(&s, "  const int v", id, " = kiln_block_argmax(a", id, "v, a", id,
                        "i, kThreads);\n");
      }
    }
    for (size_t id = 0; id < desc.instrs.size(); ++id) {
      const Instr& in = desc.instrs[id];
      if (in.loop == k && in.after_loop) {
        absl::StrAppend(&s, "  ", render::Statement(desc, static_cast<int>(id), acc), "\n");
      }
    }
  }
  s += "  }\n}\n";
  return s;
}

}  // namespace kiln::codegen
