#include "runtime/cpu/row_program.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/half.h"

namespace kiln::cpu {
namespace {

using codegen::Indexing;
using codegen::Instr;
using codegen::KernelBuffer;
using codegen::Opcode;
using codegen::ValueType;

// n consecutive elements from `index` on, widened (the dtype switch is
// outside the element loop so each case vectorises).
void LoadRun(DType dtype, const void* base, int64_t index, int n, double* out) {
  switch (dtype) {
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(base) + index;
      for (int i = 0; i < n; ++i) out[i] = F16ToFloat(p[i]);
      return;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(base) + index;
      for (int i = 0; i < n; ++i) out[i] = BF16ToFloat(p[i]);
      return;
    }
    case DType::kI32: {
      const int32_t* p = static_cast<const int32_t*>(base) + index;
      for (int i = 0; i < n; ++i) out[i] = static_cast<double>(p[i]);
      return;
    }
    default: {
      const float* p = static_cast<const float*>(base) + index;
      for (int i = 0; i < n; ++i) out[i] = p[i];
      return;
    }
  }
}

// n values stored from `index` on, narrowed to the buffer's dtype.
void StoreRun(DType dtype, void* base, int64_t index, int n, const double* v) {
  switch (dtype) {
    case DType::kF16: {
      uint16_t* p = static_cast<uint16_t*>(base) + index;
      for (int i = 0; i < n; ++i) p[i] = FloatToF16(static_cast<float>(v[i]));
      return;
    }
    case DType::kBF16: {
      uint16_t* p = static_cast<uint16_t*>(base) + index;
      for (int i = 0; i < n; ++i) p[i] = FloatToBF16(static_cast<float>(v[i]));
      return;
    }
    case DType::kI32: {
      int32_t* p = static_cast<int32_t*>(base) + index;
      for (int i = 0; i < n; ++i) p[i] = static_cast<int32_t>(v[i]);
      return;
    }
    default: {
      float* p = static_cast<float*>(base) + index;
      for (int i = 0; i < n; ++i) p[i] = static_cast<float>(v[i]);
      return;
    }
  }
}

inline double F32(double v) { return static_cast<double>(static_cast<float>(v)); }

// The activations as codegen/render_common.cc spells them, in f32.
inline float Silu(float a) { return a / (1.0f + std::exp(-a)); }
inline float GeluTanh(float a) {
  return 0.5f * a * (1.0f + std::tanh(0.7978845608028654f * (a + 0.044715f * a * a * a)));
}
inline float GeluErf(float a) { return 0.5f * a * (1.0f + std::erf(a * 0.7071067811865476f)); }

// kiln_argmax_combine (codegen/host_runtime.h): the larger value, the
// smaller index on ties, and the first NaN over everything.
inline void ArgmaxCombine(double& v, double& i, double ov, double oi) {
  const bool vn = std::isnan(v), on = std::isnan(ov);
  const bool take = (vn || on) ? (on && (!vn || oi < i)) : (ov > v || (ov == v && oi < i));
  if (take) {
    v = ov;
    i = oi;
  }
}

}  // namespace

RowProgram::RowProgram(codegen::KernelDesc desc) : desc_(std::move(desc)) {}

absl::StatusOr<RowProgram> RowProgram::Create(codegen::KernelDesc desc) {
  if (absl::Status s = codegen::ValidateKernel(desc); !s.ok()) {
    return absl::InternalError(absl::StrCat("row kernel ", desc.name, ": ", s.message()));
  }
  RowProgram p(std::move(desc));
  const int n = static_cast<int>(p.desc_.instrs.size());
  p.loops_.resize(static_cast<size_t>(p.desc_.num_loops()));
  p.scalar_.assign(static_cast<size_t>(n), false);
  for (int id = 0; id < n; ++id) {
    const Instr& in = p.desc_.instrs[id];
    Loop& loop = p.loops_[static_cast<size_t>(in.loop)];
    (in.after_loop ? loop.after : loop.body).push_back(id);
    p.scalar_[id] = in.after_loop || in.op == Opcode::kReduceSum || in.op == Opcode::kReduceArgmax;
  }
  return p;
}

int64_t RowProgram::ScratchBytesFor(const codegen::KernelDesc& desc) {
  const int64_t n = static_cast<int64_t>(desc.instrs.size());
  // values [n][kChunk], scalars [n], argmax values [n], gather rows [buffers]
  return (n * kChunk + 2 * n) * 8 + static_cast<int64_t>(desc.buffers.size()) * 8;
}

void RowProgram::Run(void* const* buffers, int64_t row_begin, int64_t row_end,
                     void* scratch) const {
  const int64_t n = static_cast<int64_t>(desc_.instrs.size());
  double* values = static_cast<double*>(scratch);
  double* scalars = values + n * kChunk;
  int64_t* gather_rows = reinterpret_cast<int64_t*>(scalars + 2 * n);
  for (int64_t r = row_begin; r < row_end; ++r) RunRow(buffers, r, values, scalars, gather_rows);
}

void RowProgram::RunRow(void* const* buffers, int64_t r, double* values, double* scalars,
                        int64_t* gather_rows) const {
  const int64_t n = static_cast<int64_t>(desc_.instrs.size());
  double* argmax_v = scalars + n;
  // The gather prologue: a bad id reads zeros and raises the fault flag.
  for (size_t k = 0; k < desc_.buffers.size(); ++k) {
    const KernelBuffer& b = desc_.buffers[k];
    if (b.indexing != Indexing::kGather) continue;
    const int64_t id = static_cast<const int32_t*>(buffers[b.ids])[r];
    int64_t g = id + b.index_offset;
    if (id < 0 || g < 0 || g >= b.table_rows) {
      __atomic_store_n(static_cast<int32_t*>(buffers[b.fault]), 1, __ATOMIC_RELAXED);
      g = -1;
    }
    gather_rows[k] = g;
  }
  for (const Loop& loop : loops_) {
    for (int id : loop.body) {
      const Opcode op = desc_.instrs[id].op;
      if (op == Opcode::kReduceSum) scalars[id] = 0.0;
      if (op == Opcode::kReduceArgmax) {
        argmax_v[id] = -std::numeric_limits<double>::infinity();
        scalars[id] = static_cast<double>(std::numeric_limits<int32_t>::max());
      }
    }
    for (int64_t i0 = 0; i0 < desc_.cols; i0 += kChunk) {
      const int c = static_cast<int>(std::min<int64_t>(kChunk, desc_.cols - i0));
      for (int id : loop.body) Eval(id, buffers, r, i0, c, values, scalars, gather_rows);
    }
    for (int id : loop.after) {
      Eval(id, buffers, r, 0, 1, values, scalars, gather_rows);
      scalars[id] = values[id * kChunk];
    }
  }
}

void RowProgram::Eval(int id, void* const* buffers, int64_t r, int64_t i0, int n, double* values,
                      const double* scalars_in, const int64_t* gather_rows) const {
  const Instr& in = desc_.instrs[id];
  double* out = values + id * kChunk;
  // Operand j: its chunk of values, or its per-row scalar broadcast.
  double broadcast[2][kChunk];
  const double* arg[2] = {nullptr, nullptr};
  for (size_t j = 0; j < in.args.size() && j < 2; ++j) {
    const int a = in.args[j];
    if (scalar_[a]) {
      for (int i = 0; i < n; ++i) broadcast[j][i] = scalars_in[a];
      arg[j] = broadcast[j];
    } else {
      arg[j] = values + a * kChunk;
    }
  }
  const bool f32 = in.type == ValueType::kF32;
  auto* scalars = const_cast<double*>(scalars_in);  // reductions accumulate here
  switch (in.op) {
    case Opcode::kLoad: {
      const KernelBuffer& b = desc_.buffers[in.buffer];
      const void* base = buffers[in.buffer];
      switch (b.indexing) {
        case Indexing::kRow:
          LoadRun(b.dtype, base, r * desc_.cols + i0, n, out);
          break;
        case Indexing::kColumn:
          LoadRun(b.dtype, base, i0, n, out);
          break;
        case Indexing::kGather: {
          const int64_t g = gather_rows[in.buffer];
          if (g < 0) {
            std::fill(out, out + n, 0.0);
          } else {
            LoadRun(b.dtype, base, g * desc_.cols + i0, n, out);
          }
          break;
        }
        case Indexing::kPerRow:
        case Indexing::kScalar: {
          double v = 0;
          LoadRun(b.dtype, base, b.indexing == Indexing::kPerRow ? r : 0, 1, &v);
          std::fill(out, out + n, v);
          break;
        }
      }
      return;
    }
    case Opcode::kConst: {
      const double v = f32 ? F32(in.imm) : in.imm;
      for (int i = 0; i < n; ++i) out[i] = v;
      return;
    }
    case Opcode::kAdd:
      for (int i = 0; i < n; ++i) out[i] = arg[0][i] + arg[1][i];
      break;
    case Opcode::kSub:
      for (int i = 0; i < n; ++i) out[i] = arg[0][i] - arg[1][i];
      break;
    case Opcode::kMul:
      for (int i = 0; i < n; ++i) out[i] = arg[0][i] * arg[1][i];
      break;
    case Opcode::kDiv:
      for (int i = 0; i < n; ++i) out[i] = arg[0][i] / arg[1][i];
      break;
    case Opcode::kSqrt:
      for (int i = 0; i < n; ++i) out[i] = std::sqrt(arg[0][i]);
      break;
    case Opcode::kToF64:
      for (int i = 0; i < n; ++i) out[i] = arg[0][i];
      return;
    case Opcode::kToF32:
      for (int i = 0; i < n; ++i) out[i] = F32(arg[0][i]);
      return;
    case Opcode::kRound:
      for (int i = 0; i < n; ++i) {
        out[i] = RoundToDType(static_cast<float>(arg[0][i]), in.dtype);
      }
      return;
    case Opcode::kSilu:
      for (int i = 0; i < n; ++i) out[i] = Silu(static_cast<float>(arg[0][i]));
      return;
    case Opcode::kGeluTanh:
      for (int i = 0; i < n; ++i) out[i] = GeluTanh(static_cast<float>(arg[0][i]));
      return;
    case Opcode::kGeluErf:
      for (int i = 0; i < n; ++i) out[i] = GeluErf(static_cast<float>(arg[0][i]));
      return;
    case Opcode::kRelu:
      for (int i = 0; i < n; ++i) out[i] = arg[0][i] > 0.0 ? arg[0][i] : 0.0;
      return;
    case Opcode::kStore: {
      const KernelBuffer& b = desc_.buffers[in.buffer];
      void* base = buffers[in.buffer];
      if (b.indexing == Indexing::kRow) {
        StoreRun(b.dtype, base, r * desc_.cols + i0, n, arg[0]);
      } else {
        StoreRun(b.dtype, base, b.indexing == Indexing::kPerRow ? r : 0, 1, arg[0]);
      }
      return;
    }
    case Opcode::kReduceSum: {
      double sum = scalars[id];
      for (int i = 0; i < n; ++i) sum += arg[0][i];
      scalars[id] = sum;
      return;
    }
    case Opcode::kReduceArgmax: {
      double* best_v = scalars + desc_.instrs.size();
      for (int i = 0; i < n; ++i) {
        ArgmaxCombine(best_v[id], scalars[id], arg[0][i], static_cast<double>(i0 + i));
      }
      return;
    }
  }
  if (f32) {
    for (int i = 0; i < n; ++i) out[i] = F32(out[i]);
  }
}

}  // namespace kiln::cpu
