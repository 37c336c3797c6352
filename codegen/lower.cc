// Lowering of row-wise IR nodes to kernel descriptions.
//
// Plan for one kernel (LowerNodes):
//   1. Shapes: every member is [leading..., cols] (argmax: its operand is);
//      the leading dims, flattened, are the launch's rows.
//   2. Buffers: operands from outside the kernel are inputs (a full
//      [rows, cols] value, a [cols] vector, an embedding table gathered by
//      per-row ids); members used outside it or returned are outputs.
//   3. Loops: a member's element value is available from loop `level` on:
//      0 for loads and elementwise maths on them, one loop after the input's
//      for rms_norm (its sum of squares is reduced first) and argmax, two for
//      layer_norm (mean, then variance). Outputs are stored in their level's
//      loop; a later loop reloads a stored value and recomputes any other.
//   4. Each op is emitted with the reference executor's maths and rounding
//      points (runtime/reference/ops_*.cc, ir/op.h "Precision"): f32
//      arithmetic in the same order, sums in f64, one rounding to the dtype
//      per op (rms_norm without weight_offset also rounds x * inv_rms).
#include "codegen/lower.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/builder.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "ir/verifier.h"

namespace kiln::codegen {
namespace {

bool IsFloatDType(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

// The shape a member's row structure is read from.
const Shape& RowShape(const Function& f, const Node& n) {
  return n.op == Op::kArgmax ? f.node(n.operands[0]).type.shape : n.type.shape;
}

class Lowering {
 public:
  Lowering(const Function& f, std::vector<ValueId> members, const GpuTarget& info)
      : f_(f), members_(std::move(members)), info_(info) {
    member_set_.insert(members_.begin(), members_.end());
  }

  absl::StatusOr<KernelDesc> Run(const std::string& name) {
    desc_.name = KernelNameFor(name);
    KILN_RETURN_IF_ERROR(AnalyseShapes());
    KILN_RETURN_IF_ERROR(AssignBuffers());
    KILN_RETURN_IF_ERROR(AssignLevels());
    desc_.threads = ThreadsPerRow(desc_.cols, info_);
    if (desc_.shared_bytes() > info_.max_shared_per_block) {
      return absl::ResourceExhaustedError(absl::StrCat(desc_.name, ": needs ", desc_.shared_bytes(),
                                                       " bytes of shared memory on ", info_.name));
    }
    EmitLoops();
    KILN_ASSIGN_OR_RETURN(desc_.ir, SnippetIr());
    KILN_RETURN_IF_ERROR(ValidateKernel(desc_));
    return std::move(desc_);
  }

 private:
  absl::Status Unimplemented(const Node& n, const std::string& what) const {
    return absl::UnimplementedError(absl::StrCat("codegen: %", n.name, " (",
                                                 std::string(GetOpInfo(n.op).name), "): ", what));
  }

  // Step 1.
  absl::Status AnalyseShapes() {
    if (members_.empty()) return absl::InternalError("codegen: a kernel needs members");
    const Shape& first = RowShape(f_, f_.node(members_[0]));
    if (first.empty() || !first.back().is_static() || first.back().size <= 0) {
      return Unimplemented(f_.node(members_[0]), "the last dim must be static and positive");
    }
    desc_.cols = first.back().size;
    leading_.assign(first.begin(), first.end() - 1);
    for (ValueId id : members_) {
      const Node& n = f_.node(id);
      if (!IsRowOp(n)) return Unimplemented(n, "not a row op");
      const Shape& s = RowShape(f_, n);
      if (s.empty() || s.back() != first.back() || Shape(s.begin(), s.end() - 1) != leading_) {
        return Unimplemented(n, "members of one kernel must share their row shape");
      }
    }
    return absl::OkStatus();
  }

  int AddBuffer(KernelBuffer b) {
    desc_.buffers.push_back(std::move(b));
    return static_cast<int>(desc_.buffers.size()) - 1;
  }


  // Step 2. Inputs in first-use order, then outputs, then the fault flag.
  absl::Status AssignBuffers() {
    Shape full = leading_;
    full.push_back(Dim::Static(desc_.cols));
    for (ValueId id : members_) {
      const Node& n = f_.node(id);
      for (size_t k = 0; k < n.operands.size(); ++k) {
        ValueId v = n.operands[k];
        if (member_set_.count(v) || input_buffer_.count(v)) continue;
        const Node& def = f_.node(v);
        if (DependsOnMember(v)) {
          return Unimplemented(n, absl::StrCat("operand %", def.name,
                                               " is computed from this kernel's own values"));
        }
        KernelBuffer b{.name = def.name, .dtype = def.type.dtype};
        if (n.op == Op::kEmbedding && k == 0) {
          if (def.type.rank() != 2 || !def.type.shape[0].is_static()) {
            return Unimplemented(n, "the table must be [static rows, cols]");
          }
          b.indexing = Indexing::kGather;
          b.table_rows = def.type.shape[0].size;
          b.index_offset = n.IntAttr("index_offset", 0);
        } else if (n.op == Op::kEmbedding) {
          if (def.type.shape != leading_) return Unimplemented(n, "ids must be [rows]");
          b.indexing = Indexing::kPerRow;
        } else if (def.type.shape == full) {
          b.indexing = Indexing::kRow;
        } else if (def.type.rank() == 1 && def.type.shape[0] == Dim::Static(desc_.cols)) {
          b.indexing = Indexing::kColumn;
        } else {
          return Unimplemented(n, absl::StrCat("operand %", def.name, " ",
                                               TypeToString(def.type),
                                               " is neither a full row operand nor one [cols] vector"));
        }
        if (!IsFloatDType(b.dtype) && b.indexing != Indexing::kPerRow) {
          return Unimplemented(n, "float operands only");
        }
        input_buffer_[v] = AddBuffer(std::move(b));
        inputs_.push_back(v);
      }
    }
    std::set<ValueId> used_outside(f_.results.begin(), f_.results.end());
    for (ValueId id = 0; id < static_cast<ValueId>(f_.nodes.size()); ++id) {
      if (member_set_.count(id)) continue;
      for (ValueId v : f_.node(id).operands) used_outside.insert(v);
    }
    for (ValueId id : members_) {
      if (!used_outside.count(id)) continue;
      const Node& n = f_.node(id);
      output_buffer_[id] = AddBuffer({.name = n.name, .dtype = n.type.dtype,
                                      .output = true,
                                      .indexing = n.op == Op::kArgmax ? Indexing::kPerRow
                                                                      : Indexing::kRow});
      outputs_.push_back(id);
    }
    for (auto& [v, index] : input_buffer_) {
      if (desc_.buffers[index].indexing != Indexing::kGather) continue;
      if (fault_ < 0) {
        fault_ = AddBuffer({.name = "fault", .dtype = DType::kI32, .output = true,
                            .indexing = Indexing::kScalar});
      }
      KernelBuffer& table = desc_.buffers[index];
      table.fault = fault_;
      for (ValueId id : members_) {
        const Node& n = f_.node(id);
        if (n.op == Op::kEmbedding && n.operands[0] == v) table.ids = input_buffer_.at(n.operands[1]);
      }
    }
    return absl::OkStatus();
  }

  // Whether `v` (not a member) reads a member through other nodes: then the
  // kernel would need a value computed after it starts.
  bool DependsOnMember(ValueId v) const {
    std::vector<ValueId> stack = {v};
    std::set<ValueId> seen;
    while (!stack.empty()) {
      ValueId u = stack.back();
      stack.pop_back();
      if (!seen.insert(u).second || u < members_.front()) continue;
      if (member_set_.count(u)) return true;
      for (ValueId o : f_.node(u).operands) stack.push_back(o);
    }
    return false;
  }

  int LevelOf(ValueId v) const { return member_set_.count(v) ? level_.at(v) : 0; }

  // Step 3.
  absl::Status AssignLevels() {
    for (ValueId id : members_) {
      const Node& n = f_.node(id);
      int level = 0;
      for (ValueId v : n.operands) {
        if (!member_set_.count(v)) continue;
        if (f_.node(v).op == Op::kArgmax) return Unimplemented(n, "argmax must end its kernel");
        level = std::max(level, LevelOf(v));
      }
      if (n.op == Op::kRmsNorm || n.op == Op::kArgmax) level = LevelOf(n.operands[0]) + 1;
      if (n.op == Op::kLayerNorm) level = LevelOf(n.operands[0]) + 2;
      level_[id] = level;
    }
    return absl::OkStatus();
  }

  // Step 4: loop by loop, stores and reductions in member order, then the
  // per-row scalars after the loop.
  void EmitLoops() {
    int loops = 1;
    for (ValueId id : members_) {
      const Node& n = f_.node(id);
      loops = std::max(loops, n.op == Op::kArgmax ? level_[id] : level_[id] + 1);
    }
    for (int k = 0; k < loops; ++k) {
      b_.SetPlace(k, false);
      memo_.clear();
      loop_ = k;
      for (ValueId id : members_) {
        const Node& n = f_.node(id);
        if (output_buffer_.count(id) && level_[id] == k && n.op != Op::kArgmax) {
          b_.Store(output_buffer_[id], Emit(id));
        }
        const int in_level = n.operands.empty() ? 0 : LevelOf(n.operands[0]);
        if (n.op == Op::kRmsNorm && in_level == k) {
          int x = b_.ToF64(Emit(n.operands[0]));
          sum_[id] = b_.ReduceSum(b_.Binary(Opcode::kMul, x, x));
        } else if (n.op == Op::kLayerNorm && in_level == k) {
          sum_[id] = b_.ReduceSum(b_.ToF64(Emit(n.operands[0])));
        } else if (n.op == Op::kLayerNorm && in_level + 1 == k) {
          int d = b_.Binary(Opcode::kSub, b_.ToF64(Emit(n.operands[0])), mean_[id]);
          sum_[id] = b_.ReduceSum(b_.Binary(Opcode::kMul, d, d));
        } else if (n.op == Op::kArgmax && in_level == k) {
          sum_[id] = b_.ReduceArgmax(Emit(n.operands[0]));
        }
      }
      b_.SetPlace(k, true);
      for (ValueId id : members_) EmitAfterLoop(id, k);
    }
  }

  // inv_rms = (float)(1 / sqrt(sum_sq / cols + eps)); mean = sum / cols;
  // inv_std = 1 / sqrt(var_sum / cols + eps), as the reference (in f64).
  void EmitAfterLoop(ValueId id, int k) {
    const Node& n = f_.node(id);
    if (n.operands.empty()) return;
    const int in_level = LevelOf(n.operands[0]);
    const double cols = static_cast<double>(desc_.cols);
    // Operands are built in separate statements throughout: the order of
    // evaluation of a call's arguments is unspecified, and the generated
    // text must not depend on the compiler that built codegen.
    auto inv_sqrt = [&](int sum) {
      const int c = b_.ConstF64(cols);
      const int mean = b_.Binary(Opcode::kDiv, sum, c);
      const int eps = b_.ConstF64(n.FloatAttr("eps"));
      const int root = b_.Unary(Opcode::kSqrt, b_.Binary(Opcode::kAdd, mean, eps));
      const int one = b_.ConstF64(1.0);
      return b_.Binary(Opcode::kDiv, one, root);
    };
    if (n.op == Op::kRmsNorm && in_level == k) {
      scale_[id] = b_.ToF32(inv_sqrt(sum_[id]));
    } else if (n.op == Op::kLayerNorm && in_level == k) {
      const int c = b_.ConstF64(cols);
      mean_[id] = b_.Binary(Opcode::kDiv, sum_[id], c);
    } else if (n.op == Op::kLayerNorm && in_level + 1 == k) {
      scale_[id] = inv_sqrt(sum_[id]);
    } else if (n.op == Op::kArgmax && in_level == k && output_buffer_.count(id)) {
      b_.Store(output_buffer_[id], sum_[id]);
    }
  }

  // The element value of `v` in the current loop body.
  int Emit(ValueId v) {
    if (auto it = memo_.find(v); it != memo_.end()) return it->second;
    int out;
    if (!member_set_.count(v)) {
      out = b_.Load(input_buffer_.at(v));
    } else if (output_buffer_.count(v) && level_.at(v) < loop_) {
      out = b_.Load(output_buffer_.at(v));  // stored rounded, so reloaded exactly
    } else {
      out = EmitOp(f_.node(v));
    }
    memo_[v] = out;
    return out;
  }

  int EmitOp(const Node& n) {
    const DType dt = n.type.dtype;
    auto arg = [&](int k) { return Emit(n.operands[k]); };
    auto binary = [&](Opcode op) {
      const int a = arg(0);
      const int b = arg(1);
      return b_.Round(b_.Binary(op, a, b), dt);
    };
    auto unary = [&](Opcode op) { return b_.Round(b_.Unary(op, arg(0)), dt); };
    switch (n.op) {
      case Op::kAdd:
        return binary(Opcode::kAdd);
      case Op::kMul:
        return binary(Opcode::kMul);
      case Op::kScale: {
        const int x = arg(0);
        const int factor = b_.ConstF32(static_cast<float>(n.FloatAttr("factor", 1.0)));
        return b_.Round(b_.Binary(Opcode::kMul, x, factor), dt);
      }
      case Op::kSilu:
        return unary(Opcode::kSilu);
      case Op::kGeluTanh:
        return unary(Opcode::kGeluTanh);
      case Op::kGeluErf:
        return unary(Opcode::kGeluErf);
      case Op::kRelu:
        return unary(Opcode::kRelu);
      case Op::kCast:
        return b_.Round(arg(0), dt);
      case Op::kEmbedding:
        return b_.Load(input_buffer_.at(n.operands[0]));  // table values are exact in dt
      case Op::kRmsNorm: {
        // offset != 0 (Gemma): x * inv_rms * (w + offset) in f32; else
        // round(x * inv_rms) * w (LlamaRMSNorm); rounded once more at the end.
        const float offset = static_cast<float>(n.FloatAttr("weight_offset", 0.0));
        const int xn = b_.Binary(Opcode::kMul, arg(0), scale_.at(id_of(n)));
        const int w = arg(1);
        int y;
        if (offset != 0) {
          const int off = b_.ConstF32(offset);
          y = b_.Binary(Opcode::kMul, xn, b_.Binary(Opcode::kAdd, w, off));
        } else {
          y = b_.Binary(Opcode::kMul, b_.Round(xn, dt), w);
        }
        return b_.Round(y, dt);
      }
      case Op::kLayerNorm: {
        // (float)((x - mean) * inv_std) * w + b, the centring in f64.
        const ValueId id = id_of(n);
        const int d = b_.Binary(Opcode::kSub, b_.ToF64(arg(0)), mean_.at(id));
        const int xn = b_.ToF32(b_.Binary(Opcode::kMul, d, scale_.at(id)));
        const int w = arg(1);
        const int scaled = b_.Binary(Opcode::kMul, xn, w);
        const int bias = arg(2);
        return b_.Round(b_.Binary(Opcode::kAdd, scaled, bias), dt);
      }
      default:  // argmax has no element value; AssignLevels rejects its users
        return -1;
    }
  }

  ValueId id_of(const Node& n) const { return static_cast<ValueId>(&n - f_.nodes.data()); }

  // The members as a self-contained module: inputs as parameters, leading
  // dims flattened to `rows`.
  absl::StatusOr<std::string> SnippetIr() const {
    Module m;
    m.name = "kernel";
    Function g;
    g.name = "kernel";
    std::map<ValueId, ValueId> remap;
    auto flat = [&](const TensorType& t, bool rows_only) {
      TensorType out{t.dtype, {Dim::Symbol("rows")}};
      if (!rows_only) out.shape.push_back(Dim::Static(desc_.cols));
      return out;
    };
    for (ValueId v : inputs_) {
      const Node& def = f_.node(v);
      const Indexing ix = desc_.buffers[input_buffer_.at(v)].indexing;
      Node p;
      p.name = def.name;
      p.type = def.type;
      if (ix == Indexing::kRow || ix == Indexing::kPerRow) p.type = flat(def.type, ix == Indexing::kPerRow);
      remap[v] = static_cast<ValueId>(g.nodes.size());
      g.params.push_back(remap[v]);
      g.nodes.push_back(std::move(p));
    }
    for (ValueId id : members_) {
      Node n = f_.node(id);
      n.type = flat(n.type, n.op == Op::kArgmax);
      n.attrs.erase("fusion");
      n.attrs.erase("offset");
      for (ValueId& o : n.operands) o = remap.at(o);
      remap[id] = static_cast<ValueId>(g.nodes.size());
      g.nodes.push_back(std::move(n));
    }
    for (ValueId v : outputs_) g.results.push_back(remap.at(v));
    m.functions.push_back(std::move(g));
    absl::Status ok = VerifyModule(m);
    if (!ok.ok()) return absl::InternalError(absl::StrCat(desc_.name, ": snippet: ", ok.message()));
    return PrintModule(m);
  }

  const Function& f_;
  std::vector<ValueId> members_;
  std::set<ValueId> member_set_;
  const GpuTarget& info_;
  KernelDesc desc_;
  KernelBuilder b_{desc_};
  Shape leading_;
  std::map<ValueId, int> input_buffer_, output_buffer_, level_;
  std::vector<ValueId> inputs_, outputs_;
  int fault_ = -1;
  int loop_ = 0;
  std::map<ValueId, int> memo_;
  // Per norm/argmax member: its reduction, layer_norm's mean, and the
  // per-row scale (inv_rms in f32, inv_std in f64).
  std::map<ValueId, int> sum_, mean_, scale_;
};

const char* NotGeneratedReason(Op op) {
  switch (op) {
    case Op::kMatmul:
    case Op::kMatmulNT:
      return "GEMM: cuBLASLt, not generated yet";
    case Op::kRope:
    case Op::kKvCacheWrite:
    case Op::kAttention:
    case Op::kSoftmax:
      return "attention / rope + cache write template: not written yet";
    case Op::kReshape:
      return "a view: no kernel";
    default:
      return "no row kernel for this op or dtype";
  }
}

// Disjoint-set forest over node ids, for the connected parts of a group.
ValueId FindRoot(std::map<ValueId, ValueId>& parent, ValueId v) {
  while (parent[v] != v) v = parent[v] = parent[parent[v]];
  return v;
}

}  // namespace

bool IsRowOp(const Node& n) {
  if (!IsFloatDType(n.type.dtype) && n.op != Op::kArgmax) return false;
  switch (n.op) {
    case Op::kAdd:
    case Op::kMul:
    case Op::kScale:
    case Op::kSilu:
    case Op::kGeluTanh:
    case Op::kGeluErf:
    case Op::kRelu:
    case Op::kRmsNorm:
    case Op::kLayerNorm:
    case Op::kEmbedding:
      return true;
    case Op::kArgmax:
      return n.type.dtype == DType::kI32;
    case Op::kCast:
      return true;  // float -> float: the result dtype is float (checked above)
    default:
      return false;
  }
}

absl::StatusOr<KernelDesc> LowerNodes(const Function& f, const std::vector<ValueId>& members,
                                      const std::string& name, const GpuTarget& info) {
  return Lowering(f, members, info).Run(name);
}

absl::StatusOr<LoweredFunction> LowerFunction(const Function& f, const GpuTarget& info) {
  LoweredFunction out;
  // Row members of each group (an unfused node is its own group), joined
  // along direct edges between them.
  std::map<std::string, std::vector<ValueId>> groups;
  std::vector<std::string> order;
  std::map<ValueId, ValueId> parent;
  for (ValueId id = 0; id < static_cast<ValueId>(f.nodes.size()); ++id) {
    const Node& n = f.node(id);
    if (n.op == Op::kParameter || n.op == Op::kConstant) continue;
    if (n.op == Op::kCast && !IsFloatDType(f.node(n.operands[0]).type.dtype)) {
      out.not_generated.push_back({n.name, "cast", "integer casts: no row kernel yet"});
      continue;
    }
    if (n.op == Op::kEmbedding && !IsFloatDType(f.node(n.operands[0]).type.dtype)) {
      out.not_generated.push_back({n.name, "embedding", "a block-quantized table: no row kernel"});
      continue;
    }
    if (!IsRowOp(n)) {
      out.not_generated.push_back({n.name, std::string(GetOpInfo(n.op).name), NotGeneratedReason(n.op)});
      continue;
    }
    std::string group = n.StringAttr("fusion", n.name);
    if (!groups.count(group)) order.push_back(group);
    groups[group].push_back(id);
    parent[id] = id;
    for (ValueId v : n.operands) {
      if (parent.count(v) && f.node(v).StringAttr("fusion", f.node(v).name) == group) {
        parent[FindRoot(parent, v)] = FindRoot(parent, id);
      }
    }
  }
  for (const std::string& group : order) {
    std::map<ValueId, std::vector<ValueId>> parts;
    std::vector<ValueId> part_order;
    for (ValueId id : groups[group]) {
      ValueId root = FindRoot(parent, id);
      if (!parts.count(root)) part_order.push_back(root);
      parts[root].push_back(id);
    }
    for (ValueId root : part_order) {
      const std::vector<ValueId>& members = parts[root];
      KILN_ASSIGN_OR_RETURN(KernelDesc k,
                            LowerNodes(f, members, f.node(members.back()).name, info));
      out.kernels.push_back(std::move(k));
    }
  }
  return out;
}

absl::StatusOr<KernelDesc> LowerSampleArgmax(DType dtype, int64_t vocab, const GpuTarget& info) {
  Module m;
  m.name = "sample";
  FunctionBuilder fb(m, "sample");
  ValueId logits = fb.Parameter("logits", {dtype, MakeShape({"rows", vocab})});
  ValueId next = fb.Add(Op::kArgmax, {logits}, {}, "sample_argmax");
  KILN_RETURN_IF_ERROR(fb.Finish({next}));
  return LowerNodes(m.functions[0], {next}, "sample_argmax", info);
}

}  // namespace kiln::codegen
