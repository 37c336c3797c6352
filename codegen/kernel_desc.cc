#include "codegen/kernel_desc.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"

namespace kiln::codegen {

int KernelDesc::num_loops() const {
  int n = 0;
  for (const Instr& in : instrs) n = std::max(n, in.loop + 1);
  return n;
}

// One slot per warp, for 32 warps (the most a 1024-thread block has): a
// double for sums; a float and an int for argmax. Reductions in sequence
// reuse the slots (each block reduction starts with a barrier).
int64_t KernelDesc::shared_bytes() const {
  auto uses = [&](Opcode op) {
    return std::any_of(instrs.begin(), instrs.end(), [op](const Instr& in) { return in.op == op; });
  };
  return (uses(Opcode::kReduceSum) ? 32 * 8 : 0) + (uses(Opcode::kReduceArgmax) ? 32 * 8 : 0);
}

void KernelBuilder::SetPlace(int loop, bool after_loop) {
  loop_ = loop;
  after_loop_ = after_loop;
}

int KernelBuilder::Add(Opcode op, ValueType type, std::vector<int> args, int buffer, double imm,
                       DType dtype) {
  Instr in;
  in.op = op;
  in.type = type;
  in.loop = loop_;
  in.after_loop = after_loop_;
  in.args = std::move(args);
  in.buffer = buffer;
  in.imm = imm;
  in.dtype = dtype;
  desc_.instrs.push_back(std::move(in));
  return static_cast<int>(desc_.instrs.size()) - 1;
}

ValueType KernelBuilder::TypeOf(int a) const { return desc_.instrs[a].type; }

int KernelBuilder::Load(int buffer) { return Add(Opcode::kLoad, ValueType::kF32, {}, buffer); }
int KernelBuilder::ConstF32(float v) { return Add(Opcode::kConst, ValueType::kF32, {}, -1, v); }
int KernelBuilder::ConstF64(double v) { return Add(Opcode::kConst, ValueType::kF64, {}, -1, v); }
int KernelBuilder::Binary(Opcode op, int a, int b) { return Add(op, TypeOf(a), {a, b}); }
int KernelBuilder::Unary(Opcode op, int a) { return Add(op, TypeOf(a), {a}); }
int KernelBuilder::ToF64(int a) { return Add(Opcode::kToF64, ValueType::kF64, {a}); }
int KernelBuilder::ToF32(int a) { return Add(Opcode::kToF32, ValueType::kF32, {a}); }

int KernelBuilder::Round(int a, DType dtype) {
  if (dtype == DType::kF32) return a;  // f32 values are f32 already
  return Add(Opcode::kRound, ValueType::kF32, {a}, -1, 0.0, dtype);
}

void KernelBuilder::Store(int buffer, int a) { Add(Opcode::kStore, TypeOf(a), {a}, buffer); }
int KernelBuilder::ReduceSum(int a) { return Add(Opcode::kReduceSum, ValueType::kF64, {a}); }

int KernelBuilder::ReduceArgmax(int a) {
  return Add(Opcode::kReduceArgmax, ValueType::kI32, {a});
}

namespace {

absl::Status Bad(const KernelDesc& desc, size_t id, const std::string& what) {
  return absl::InternalError(absl::StrCat("kernel ", desc.name, ": instruction v", id, ": ", what));
}

bool IsFloatStorage(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

}  // namespace

absl::Status ValidateKernel(const KernelDesc& desc) {
  if (desc.cols <= 0 || desc.threads <= 0 || desc.threads % 32 != 0 || desc.threads > 1024) {
    return absl::InternalError(absl::StrCat("kernel ", desc.name, ": cols ", desc.cols,
                                            " / threads ", desc.threads, " are invalid"));
  }
  for (const KernelBuffer& b : desc.buffers) {
    if (!IsFloatStorage(b.dtype) && b.dtype != DType::kI32) {
      return absl::InternalError(absl::StrCat("kernel ", desc.name, ": buffer ", b.name,
                                              " has unsupported dtype ", std::string(DTypeName(b.dtype))));
    }
    if (b.indexing == Indexing::kGather) {
      auto in_range = [&](int k) { return k >= 0 && k < static_cast<int>(desc.buffers.size()); };
      if (!in_range(b.ids) || !in_range(b.fault) || desc.buffers[b.ids].dtype != DType::kI32 ||
          desc.buffers[b.ids].indexing != Indexing::kPerRow || !desc.buffers[b.fault].output) {
        return absl::InternalError(absl::StrCat("kernel ", desc.name, ": gather ", b.name,
                                                " lacks its ids or fault buffer"));
      }
    }
  }
  for (size_t id = 0; id < desc.instrs.size(); ++id) {
    const Instr& in = desc.instrs[id];
    for (int a : in.args) {
      if (a < 0 || static_cast<size_t>(a) >= id) return Bad(desc, id, "operand not defined yet");
      const Instr& def = desc.instrs[a];
      // Body values live in their loop's scope; after-loop values are in
      // function scope from the end of their loop on.
      bool visible = def.after_loop ? (def.loop < in.loop || (def.loop == in.loop && in.after_loop))
                                    : (def.loop == in.loop && !in.after_loop);
      if (def.op == Opcode::kReduceSum || def.op == Opcode::kReduceArgmax) {
        visible = def.loop < in.loop || (def.loop == in.loop && in.after_loop);
      }
      if (!visible) return Bad(desc, id, absl::StrCat("operand v", a, " is not in scope"));
    }
    bool reduces = in.op == Opcode::kReduceSum || in.op == Opcode::kReduceArgmax;
    if (reduces && in.after_loop) return Bad(desc, id, "a reduction must sit in a loop body");
    if (in.op == Opcode::kReduceSum && desc.instrs[in.args[0]].type != ValueType::kF64) {
      return Bad(desc, id, "sums are accumulated in f64");
    }
    if (in.op == Opcode::kLoad || in.op == Opcode::kStore) {
      if (in.buffer < 0 || in.buffer >= static_cast<int>(desc.buffers.size())) {
        return Bad(desc, id, "no such buffer");
      }
      const KernelBuffer& b = desc.buffers[in.buffer];
      if (b.output != (in.op == Opcode::kStore) && !(b.output && in.op == Opcode::kLoad)) {
        return Bad(desc, id, absl::StrCat("stores to input buffer ", b.name));
      }
      bool per_row = b.indexing == Indexing::kPerRow || b.indexing == Indexing::kScalar;
      if (per_row != in.after_loop) {
        return Bad(desc, id, "per-row buffers are accessed after a loop, others inside one");
      }
      if (in.op == Opcode::kLoad && !IsFloatStorage(b.dtype)) {
        return Bad(desc, id, "loads read float buffers");
      }
    }
  }
  return absl::OkStatus();
}

std::string KernelNameFor(const std::string& ir_name) {
  std::string out = "k_";
  for (char c : ir_name) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return out;
}

}  // namespace kiln::codegen
