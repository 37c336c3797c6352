#include "runtime/cpu/row_program.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "base/half.h"

namespace kiln::cpu {
namespace {

using codegen::Indexing;
using codegen::Instr;
using codegen::KernelBuffer;
using codegen::Opcode;
using codegen::ValueType;

// n consecutive elements from `index` on, widened to T (the dtype switch is
// outside the element loop so each case vectorises). Loads read float
// buffers only (codegen::ValidateKernel), so every value is a float.
template <typename T>
void LoadRun(DType dtype, const void* base, int64_t index, int n, T* out) {
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
      for (int i = 0; i < n; ++i) out[i] = static_cast<T>(p[i]);
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
template <typename T>
void StoreRun(DType dtype, void* base, int64_t index, int n, const T* v) {
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

// An instruction keeps its values as floats when every value it can produce
// is a float, and its f32 arithmetic then runs in float: for + - * / and
// sqrt on float operands, rounding the double result to f32 gives exactly
// the f32 operation's result (the double rounding is innocuous, see the
// header), so this changes no bit and halves the bytes each pass touches.
//   - loads (float buffers only), to_f32, round and the activations always
//     give floats;
//   - f32-typed constants, and f32-typed + - * / sqrt whose operands are all
//     floats, give floats (an operand held as a double, such as a sum, keeps
//     the instruction in double: it rounds once, at the end, as before);
//   - relu is exact: it gives floats when its operand is one;
//   - a store keeps its operand's form; to_f64, the reductions and
//     everything f64- or i32-typed are doubles.
bool RowProgram::GivesFloats(int id) const {
  const Instr& in = desc_.instrs[id];
  auto floats = [&] {
    return std::all_of(in.args.begin(), in.args.end(), [&](int a) { return floats_[a]; });
  };
  switch (in.op) {
    case Opcode::kLoad:
    case Opcode::kToF32:
    case Opcode::kRound:
    case Opcode::kSilu:
    case Opcode::kGeluTanh:
    case Opcode::kGeluErf:
      return true;
    case Opcode::kConst:
      return in.type == ValueType::kF32;
    case Opcode::kAdd:
    case Opcode::kSub:
    case Opcode::kMul:
    case Opcode::kDiv:
    case Opcode::kSqrt:
      return in.type == ValueType::kF32 && floats();
    case Opcode::kRelu:
    case Opcode::kStore:
      return floats();
    case Opcode::kToF64:
    case Opcode::kReduceSum:
    case Opcode::kReduceArgmax:
      return false;
  }
  return false;
}

// An f32 input's row or column is already the chunk a load would copy, so
// its users may read the buffer itself, unless a store runs between the
// load and its last use: the memory plan may give a later output of the
// same kernel the input's bytes (its last user in the graph came first), or
// the store may be to the buffer itself, and the users must see the values
// the load saw.
bool RowProgram::ReadsInPlace(int id) const {
  const Instr& in = desc_.instrs[id];
  if (in.op != Opcode::kLoad) return false;
  const KernelBuffer& b = desc_.buffers[in.buffer];
  if (b.dtype != DType::kF32 || (b.indexing != Indexing::kRow && b.indexing != Indexing::kColumn)) {
    return false;
  }
  int last_use = id;
  for (int u = id + 1; u < static_cast<int>(desc_.instrs.size()); ++u) {
    const std::vector<int>& args = desc_.instrs[u].args;
    if (std::find(args.begin(), args.end(), id) != args.end()) last_use = u;
  }
  for (int u = id + 1; u < last_use; ++u) {
    if (desc_.instrs[u].op == Opcode::kStore) return false;
  }
  return true;
}

absl::StatusOr<RowProgram> RowProgram::Create(codegen::KernelDesc desc) {
  if (absl::Status s = codegen::ValidateKernel(desc); !s.ok()) {
    return absl::InternalError(absl::StrCat("row kernel ", desc.name, ": ", s.message()));
  }
  RowProgram p(std::move(desc));
  const int n = static_cast<int>(p.desc_.instrs.size());
  p.loops_.resize(static_cast<size_t>(p.desc_.num_loops()));
  p.scalar_.assign(static_cast<size_t>(n), false);
  p.floats_.assign(static_cast<size_t>(n), false);
  p.direct_.assign(static_cast<size_t>(n), false);
  for (int id = 0; id < n; ++id) {
    const Instr& in = p.desc_.instrs[id];
    Loop& loop = p.loops_[static_cast<size_t>(in.loop)];
    (in.after_loop ? loop.after : loop.body).push_back(id);
    p.scalar_[id] = in.after_loop || in.op == Opcode::kReduceSum || in.op == Opcode::kReduceArgmax;
    p.floats_[id] = p.GivesFloats(id);
  }
  for (int id = 0; id < n; ++id) p.direct_[id] = p.ReadsInPlace(id);
  return p;
}

int64_t RowProgram::ScratchBytesFor(const codegen::KernelDesc& desc) {
  const int64_t n = static_cast<int64_t>(desc.instrs.size());
  // values [n][kChunk] (doubles, or floats in the first half), scalars [n],
  // argmax values [n], gather rows [buffers]
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
  const Row row{buffers, r, values, scalars, gather_rows};
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
      for (int id : loop.body) Eval(id, row, i0, c);
    }
    for (int id : loop.after) {
      Eval(id, row, 0, 1);
      scalars[id] = floats_[id] ? *Slot<float>(values, id) : *Slot<double>(values, id);
    }
  }
}

void RowProgram::Eval(int id, const Row& row, int64_t i0, int n) const {
  if (floats_[id]) {
    EvalAs<float>(id, row, i0, n);
  } else {
    EvalAs<double>(id, row, i0, n);
  }
}

template <typename T>
const T* RowProgram::Operand(int a, const Row& row, int64_t i0, int n, T* tmp) const {
  if (scalar_[a]) {
    std::fill(tmp, tmp + n, static_cast<T>(row.scalars[a]));
    return tmp;
  }
  if (direct_[a]) {  // the buffer's own f32 elements
    const Instr& load = desc_.instrs[a];
    const KernelBuffer& b = desc_.buffers[load.buffer];
    const float* v = static_cast<const float*>(row.buffers[load.buffer]) +
                     (b.indexing == Indexing::kRow ? row.r * desc_.cols : 0) + i0;
    if constexpr (std::is_same_v<T, float>) {
      return v;
    } else {
      for (int i = 0; i < n; ++i) tmp[i] = v[i];
      return tmp;
    }
  }
  if (floats_[a] == std::is_same_v<T, float>) return Slot<T>(row.values, a);
  if (floats_[a]) {
    const float* v = Slot<float>(row.values, a);
    for (int i = 0; i < n; ++i) tmp[i] = static_cast<T>(v[i]);
  } else {
    const double* v = Slot<double>(row.values, a);
    for (int i = 0; i < n; ++i) tmp[i] = static_cast<T>(v[i]);
  }
  return tmp;
}

template <typename T>
void RowProgram::EvalAs(int id, const Row& row, int64_t i0, int n) const {
  const Instr& in = desc_.instrs[id];
  T* out = Slot<T>(row.values, id);
  // Operand j: its chunk of values in T, converted or broadcast when needed.
  T tmp[2][kChunk];
  const T* arg[2] = {nullptr, nullptr};
  for (size_t j = 0; j < in.args.size() && j < 2; ++j) {
    arg[j] = Operand<T>(in.args[j], row, i0, n, tmp[j]);
  }
  const int64_t r = row.r;
  switch (in.op) {
    case Opcode::kLoad: {
      if (direct_[id]) return;  // its users read the buffer itself
      const KernelBuffer& b = desc_.buffers[in.buffer];
      const void* base = row.buffers[in.buffer];
      switch (b.indexing) {
        case Indexing::kRow:
          LoadRun(b.dtype, base, r * desc_.cols + i0, n, out);
          break;
        case Indexing::kColumn:
          LoadRun(b.dtype, base, i0, n, out);
          break;
        case Indexing::kGather: {
          const int64_t g = row.gather_rows[in.buffer];
          if (g < 0) {
            std::fill(out, out + n, T{0});
          } else {
            LoadRun(b.dtype, base, g * desc_.cols + i0, n, out);
          }
          break;
        }
        case Indexing::kPerRow:
        case Indexing::kScalar: {
          T v = 0;
          LoadRun(b.dtype, base, b.indexing == Indexing::kPerRow ? r : 0, 1, &v);
          std::fill(out, out + n, v);
          break;
        }
      }
      return;
    }
    case Opcode::kConst: {
      const T v = static_cast<T>(in.type == ValueType::kF32 ? F32(in.imm) : in.imm);
      std::fill(out, out + n, v);
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
    case Opcode::kToF64:  // T is double: Operand widened each value
    case Opcode::kToF32:  // T is float: Operand rounded each value once
      std::copy(arg[0], arg[0] + n, out);
      return;
    case Opcode::kRound:
      if (in.dtype == DType::kF32) {  // what an f32 engine's rounding steps ask: nothing
        for (int i = 0; i < n; ++i) out[i] = static_cast<float>(arg[0][i]);
      } else {
        for (int i = 0; i < n; ++i) out[i] = RoundToDType(static_cast<float>(arg[0][i]), in.dtype);
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
      for (int i = 0; i < n; ++i) out[i] = arg[0][i] > T{0} ? arg[0][i] : T{0};
      return;
    case Opcode::kStore: {
      const KernelBuffer& b = desc_.buffers[in.buffer];
      void* base = row.buffers[in.buffer];
      if (b.indexing == Indexing::kRow) {
        StoreRun(b.dtype, base, r * desc_.cols + i0, n, arg[0]);
      } else {
        StoreRun(b.dtype, base, b.indexing == Indexing::kPerRow ? r : 0, 1, arg[0]);
      }
      return;
    }
    case Opcode::kReduceSum: {
      double sum = row.scalars[id];
      for (int i = 0; i < n; ++i) sum += arg[0][i];
      row.scalars[id] = sum;
      return;
    }
    case Opcode::kReduceArgmax: {
      double* best_v = row.scalars + desc_.instrs.size();
      for (int i = 0; i < n; ++i) {
        ArgmaxCombine(best_v[id], row.scalars[id], arg[0][i], static_cast<double>(i0 + i));
      }
      return;
    }
  }
  // f32-typed arithmetic held as doubles (an operand was a double): round.
  if (std::is_same_v<T, double> && in.type == ValueType::kF32) {
    for (int i = 0; i < n; ++i) out[i] = F32(out[i]);
  }
}

}  // namespace kiln::cpu
