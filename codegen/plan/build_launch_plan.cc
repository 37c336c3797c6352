// BuildLaunchPlan (launch_plan.h). Three phases:
//   1. steps: each node group becomes one step whose scratch operands are
//      named by the IR value (root of its alias chain) they hold;
//   2. order: a topological sort of the steps by data dependency, ties
//      broken by the definition index of the last node a step computes (so
//      the plan reads like the IR);
//   3. memory: scratch offsets first-fit in launch order, each value freed
//      after the last step that touches it (base/free_list.h). A step's
//      outputs never share space with its inputs unless the step is
//      written to work in place (the RoPE kernel's q).
#include "codegen/plan/build_launch_plan.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

#include "absl/strings/str_cat.h"
#include "codegen/lower.h"
#include "base/status_macros.h"
#include "base/free_list.h"
#include "codegen/plan/launch_plan_internal.h"

namespace kiln {
namespace {

namespace attn = codegen::attention;
using launch_internal::AlignUp;
using launch_internal::StaticBytes;

constexpr char kFaultName[] = "fault";

absl::Status Unimplemented(const Function& f, const Node& n, const std::string& why) {
  return absl::UnimplementedError(absl::StrCat("the CUDA backend cannot run @", f.name, " %",
                                               n.name, " (", std::string(GetOpInfo(n.op).name),
                                               "): ", why));
}

class PlanBuilder {
 public:
  bool IsQuantizedGather(const Node& n) const {
    return n.op == Op::kEmbedding && IsBlockQuantized(f_.node(n.operands[0]).type.dtype);
  }

  PlanBuilder(const Module& module, const Function& f, const StaticLayout& layout,
              const codegen::GpuTarget& info)
      : module_(module), f_(f), layout_(layout), info_(info) {}

  absl::StatusOr<LaunchPlan> Build();

 private:
  void ResolveAliases();
  absl::StatusOr<DeviceBuffer> BufferOf(ValueId id) const;
  absl::StatusOr<DeviceBuffer> BufferNamed(const std::string& name) const;
  absl::Status AddRowKernels();
  absl::Status AddGemm(ValueId id);
  absl::Status AddAttention(ValueId id);
  absl::Status AddGatherRows(ValueId id);
  absl::Status AddArgmax(const DeviceBuffer& logits);
  absl::Status CheckResults(LaunchPlan& plan);

  const Module& module_;
  const Function& f_;
  const StaticLayout& layout_;
  const codegen::GpuTarget& info_;
  std::vector<ValueId> root_;  // alias chains resolved (reshape, kv_cache_write, in-place rope)
  std::vector<int> readers_;   // steps-to-be that read each root
  std::vector<bool> covered_;  // nodes some step (or aliasing) accounts for
  std::map<std::string, ValueId> by_name_;
  std::vector<launch_internal::PendingStep> pending_;
};

void PlanBuilder::ResolveAliases() {
  const size_t n = f_.nodes.size();
  root_.resize(n);
  readers_.assign(n, 0);
  covered_.assign(n, false);
  for (ValueId id = 0; id < static_cast<ValueId>(n); ++id) {
    const Node& node = f_.node(id);
    by_name_[node.name] = id;
    const bool alias = node.op == Op::kReshape || node.op == Op::kKvCacheWrite;
    root_[id] = alias ? root_[node.operands[0]] : id;
    covered_[id] = node.op == Op::kParameter || node.op == Op::kConstant || node.op == Op::kReshape;
    if (node.op == Op::kReshape) continue;
    for (size_t i = 0; i < node.operands.size(); ++i) {
      if (node.op == Op::kKvCacheWrite && i == 0) continue;  // updated in place
      ++readers_[root_[node.operands[i]]];
    }
  }
}

absl::StatusOr<DeviceBuffer> PlanBuilder::BufferOf(ValueId id) const {
  const Node& node = f_.node(root_[id]);
  KILN_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(node.type, "@" + f_.name + " %" + node.name));
  auto from = [&](const auto& space, const std::string& key) -> absl::StatusOr<DeviceBuffer> {
    auto it = space.find(key);
    if (it == space.end()) {
      return absl::InternalError(absl::StrCat("no arena place for %", node.name));
    }
    DeviceBuffer b = it->second;
    if (bytes > b.bytes) {
      return absl::InternalError(absl::StrCat("%", node.name, " outgrows its arena place"));
    }
    b.bytes = bytes;  // a smaller bucket uses the leading part
    return b;
  };
  if (node.op == Op::kConstant) return from(layout_.weights, node.StringAttr("weight"));
  if (node.op == Op::kParameter) {
    return launch_internal::IsCacheParam(node) ? from(layout_.caches, node.name)
                                               : from(layout_.inputs, node.name);
  }
  return DeviceBuffer{ArenaSpace::kScratch, -1, bytes, node.type.dtype, node.name};
}

absl::StatusOr<DeviceBuffer> PlanBuilder::BufferNamed(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end())
    return absl::InternalError("kernel buffer %" + name + " is not in @" + f_.name);
  return BufferOf(it->second);
}

absl::Status PlanBuilder::AddRowKernels() {
  KILN_ASSIGN_OR_RETURN(codegen::LoweredFunction lowered, codegen::LowerFunction(f_, info_));
  for (const codegen::NotGenerated& ng : lowered.not_generated) {
    const Node& node = f_.node(by_name_.at(ng.node));
    const bool handled = node.op == Op::kMatmulNT || node.op == Op::kRope ||
                         node.op == Op::kKvCacheWrite || node.op == Op::kAttention ||
                         node.op == Op::kReshape || IsQuantizedGather(node);
    if (!handled) return Unimplemented(f_, node, ng.reason);
  }
  for (ValueId id = 0; id < static_cast<ValueId>(f_.nodes.size()); ++id) {
    if (codegen::IsRowOp(f_.node(id))) covered_[id] = true;
  }
  for (codegen::KernelDesc& desc : lowered.kernels) {
    RowKernelStep step;
    int anchor = 0;
    for (const codegen::KernelBuffer& kb : desc.buffers) {
      if (kb.indexing == codegen::Indexing::kScalar) {
        step.buffers.push_back({ArenaSpace::kScratch, -1, 4, DType::kI32, kFaultName});
        continue;
      }
      KILN_ASSIGN_OR_RETURN(DeviceBuffer b, BufferNamed(kb.name));
      if (kb.output) anchor = std::max(anchor, by_name_.at(kb.name));
      if (kb.indexing == codegen::Indexing::kRow && kb.output) {
        const Node& out = f_.node(by_name_.at(kb.name));
        step.rows = *StaticElementCount(out.type.shape) / desc.cols;
      }
      step.buffers.push_back(std::move(b));
    }
    if (step.rows == 0) {  // a kernel whose outputs are per row (argmax)
      const Node& out = f_.node(anchor);
      step.rows = *StaticElementCount(out.type.shape);
    }
    std::string label = f_.node(anchor).name;
    step.desc = std::move(desc);
    pending_.push_back({{std::move(label), std::move(step)}, anchor});
  }
  return absl::OkStatus();
}

absl::Status PlanBuilder::AddGemm(ValueId id) {
  const Node& node = f_.node(id);
  covered_[id] = true;
  GemmStep g;
  g.dtype = node.type.dtype;
  KILN_ASSIGN_OR_RETURN(g.x, BufferOf(node.operands[0]));
  KILN_ASSIGN_OR_RETURN(g.w, BufferOf(node.operands[1]));
  if (node.operands.size() == 3) {
    KILN_ASSIGN_OR_RETURN(g.bias, BufferOf(node.operands[2]));
  }
  KILN_ASSIGN_OR_RETURN(g.out, BufferOf(id));
  const TensorType& w = f_.node(node.operands[1]).type;
  const bool blocks = IsBlockQuantized(g.w.dtype) && g.dtype == DType::kF32 &&
                      (g.bias.bytes == 0 || g.bias.dtype == g.dtype);
  if (w.shape.size() != 2 || g.x.dtype != g.dtype || (g.w.dtype != g.dtype && !blocks)) {
    return Unimplemented(f_, node, "GEMMs take a 2-d weight and one dtype for every operand");
  }
  g.n = w.shape[0].size;
  g.k = w.shape[1].size;
  g.m = *StaticElementCount(node.type.shape) / g.n;
  if (!blocks && g.m <= codegen::gemv::kMaxRowsPerLaunch) {
    const codegen::gemv::GemvShape shape{g.k, g.dtype, static_cast<int>(g.m)};
    absl::StatusOr<codegen::gemv::GemvVariant> gemv =
        codegen::gemv::GemvVariantFor(shape, g.n, info_);
    if (gemv.ok()) g.gemv = *gemv;  // else cuBLASLt alone (a shape the kernel does not take)
  }
  pending_.push_back({{node.name, std::move(g)}, static_cast<int>(id)});
  return absl::OkStatus();
}

// attention(q, k_cache', v_cache', pos) where q = rope(q_in, pos) or q_in,
// k_cache' = kv_cache_write(k_cache, rope(k_in, pos) or k_in, pos) and
// v_cache' = kv_cache_write(v_cache, v_in, pos): one RoPE + KV-write step
// and one attention step.
absl::Status PlanBuilder::AddAttention(ValueId id) {
  const Node& node = f_.node(id);
  const ValueId q_id = node.operands[0], pos_id = node.operands[3];
  const Node& q = f_.node(q_id);
  const Node& kw = f_.node(node.operands[1]);
  const Node& vw = f_.node(node.operands[2]);
  if (kw.op != Op::kKvCacheWrite || vw.op != Op::kKvCacheWrite ||
      !launch_internal::IsCacheParam(f_.node(kw.operands[0])) ||
      !launch_internal::IsCacheParam(f_.node(vw.operands[0])) || kw.operands[2] != pos_id ||
      vw.operands[2] != pos_id) {
    return Unimplemented(f_, node, "its caches must be written by kv_cache_write at its positions");
  }
  const bool rotary = q.op == Op::kRope;
  const Node& k_new = f_.node(kw.operands[1]);
  const auto same_rotation = [&] {
    const int d = static_cast<int>(q.type.shape[3].size);
    return q.operands[1] == pos_id && k_new.operands[1] == pos_id &&
           launch_internal::TableKey(false, launch_internal::RopeParamsOf(q), d, q.type.dtype) ==
               launch_internal::TableKey(false, launch_internal::RopeParamsOf(k_new), d,
                                         k_new.type.dtype);
  };
  if ((k_new.op == Op::kRope) != rotary || (rotary && !same_rotation())) {
    return Unimplemented(f_, node,
                         "q and k must both be rotated alike (or neither) at its positions");
  }
  const ValueId q_in = rotary ? q.operands[0] : q_id;
  const ValueId k_in = rotary ? k_new.operands[0] : kw.operands[1];
  if (rotary) {
    if (readers_[root_[kw.operands[1]]] != 1 || readers_[q_id] != 1) {
      return Unimplemented(f_, node, "the rotated q and k must feed only this attention");
    }
    covered_[q_id] = covered_[kw.operands[1]] = true;
  }
  covered_[id] = covered_[node.operands[1]] = covered_[node.operands[2]] = true;

  attn::AttentionShape shape;
  shape.head_dim = static_cast<int>(q.type.shape[3].size);
  shape.heads = static_cast<int>(q.type.shape[2].size);
  shape.kv_heads = static_cast<int>(kw.type.shape[2].size);
  shape.dtype = q.type.dtype;
  if (absl::Status s = attn::ValidateShape(shape); !s.ok())
    return Unimplemented(f_, node, s.ToString());

  RopeKvWriteStep rope;
  rope.batch = q.type.shape[0].size;
  rope.seq = q.type.shape[1].size;
  rope.capacity = kw.type.shape[1].size;
  KILN_ASSIGN_OR_RETURN(rope.variant,
                        attn::VariantFor(attn::KernelKind::kRopeKvWrite, shape, info_));
  KILN_ASSIGN_OR_RETURN(rope.q, BufferOf(q_in));
  KILN_ASSIGN_OR_RETURN(rope.k, BufferOf(k_in));
  KILN_ASSIGN_OR_RETURN(rope.v, BufferOf(vw.operands[1]));
  KILN_ASSIGN_OR_RETURN(rope.pos, BufferOf(pos_id));
  KILN_ASSIGN_OR_RETURN(rope.k_cache, BufferOf(node.operands[1]));
  KILN_ASSIGN_OR_RETURN(rope.v_cache, BufferOf(node.operands[2]));
  // Rotate q in place when nothing else reads it (q_in's only reader is
  // this step); otherwise into the attention's own q buffer.
  if (readers_[root_[q_in]] == 1) root_[q_id] = root_[q_in];
  KILN_ASSIGN_OR_RETURN(rope.q_out, BufferOf(q_id));
  const std::string key = launch_internal::TableKey(
      !rotary, rotary ? launch_internal::RopeParamsOf(q) : attn::RopeParams{}, shape.head_dim,
      shape.dtype);
  auto table = std::find_if(layout_.tables.begin(), layout_.tables.end(),
                            [&](const RopeTable& t) { return t.buffer.value == key; });
  if (table == layout_.tables.end()) return absl::InternalError("no RoPE table " + key);
  rope.cos_sin = table->buffer;

  AttentionStep a;
  a.batch = rope.batch;
  a.seq = rope.seq;
  a.capacity = rope.capacity;
  a.scale = static_cast<float>(node.FloatAttr("scale"));
  a.window = node.IntAttr("window", 0);
  a.q = rope.q_out;
  a.k_cache = rope.k_cache;
  a.v_cache = rope.v_cache;
  a.pos = rope.pos;
  KILN_ASSIGN_OR_RETURN(a.out, BufferOf(id));
  const bool decode = a.seq == 1;
  KILN_ASSIGN_OR_RETURN(
      a.variant, attn::VariantFor(decode ? attn::KernelKind::kDecode : attn::KernelKind::kPrefill,
                                  shape, info_));
  if (decode) {
    KILN_ASSIGN_OR_RETURN(a.combine, attn::VariantFor(attn::KernelKind::kCombine, shape, info_));
    a.splits = attn::DecodeSplits(shape, a.variant.tiles, info_, a.batch, a.seq, a.capacity);
    const int64_t partials = a.batch * a.seq * shape.heads * a.splits;
    a.acc = {ArenaSpace::kScratch, -1, partials * shape.head_dim * 4, DType::kF32,
             node.name + ".acc"};
    a.ml = {ArenaSpace::kScratch, -1, partials * 2 * 4, DType::kF32, node.name + ".ml"};
  }
  const int rope_anchor = std::max({static_cast<int>(q_id), static_cast<int>(node.operands[1]),
                                    static_cast<int>(node.operands[2])});
  pending_.push_back({{node.name + ".rope_kv", std::move(rope)}, rope_anchor});
  pending_.push_back({{node.name, std::move(a)}, static_cast<int>(id)});
  return absl::OkStatus();
}

// embedding(table, ids) with a block-quantized table (the row kernels read
// float tables only).
absl::Status PlanBuilder::AddGatherRows(ValueId id) {
  const Node& node = f_.node(id);
  covered_[id] = true;
  GatherRowsStep g;
  const TensorType& table = f_.node(node.operands[0]).type;
  g.table_rows = table.shape[0].size;
  g.cols = table.shape[1].size;
  g.index_offset = node.IntAttr("index_offset", 0);
  KILN_ASSIGN_OR_RETURN(g.table, BufferOf(node.operands[0]));
  KILN_ASSIGN_OR_RETURN(g.ids, BufferOf(node.operands[1]));
  KILN_ASSIGN_OR_RETURN(g.out, BufferOf(id));
  g.rows = *StaticElementCount(node.type.shape) / g.cols;
  if (g.ids.dtype != DType::kI32 || g.out.dtype != DType::kF32) {
    return Unimplemented(f_, node, "a quantized table is gathered by i32 ids into f32");
  }
  g.fault = {ArenaSpace::kScratch, -1, 4, DType::kI32, kFaultName};
  pending_.push_back({{node.name, std::move(g)}, static_cast<int>(id)});
  return absl::OkStatus();
}

absl::Status PlanBuilder::AddArgmax(const DeviceBuffer& logits) {
  const Node& node = f_.node(f_.results[0]);
  const int64_t vocab = node.type.shape.back().size;
  RowKernelStep step;
  KILN_ASSIGN_OR_RETURN(step.desc, codegen::LowerSampleArgmax(node.type.dtype, vocab, info_));
  step.rows = logits.bytes / *StorageBytes(node.type.dtype, vocab);
  step.buffers = {logits, {ArenaSpace::kScratch, -1, step.rows * 4, DType::kI32, "next_tokens"}};
  pending_.push_back({{"next_tokens", std::move(step)}, static_cast<int>(f_.nodes.size())});
  return absl::OkStatus();
}

absl::Status PlanBuilder::CheckResults(LaunchPlan& plan) {
  if (f_.results.empty()) return absl::InvalidArgumentError("@" + f_.name + " returns nothing");
  const Node& logits = f_.node(f_.results[0]);
  if (logits.type.shape.size() != 3 || !IsFloat(logits.type.dtype)) {
    return Unimplemented(f_, logits, "the first result must be [batch, seq, vocab] logits");
  }
  for (size_t i = 1; i < f_.results.size(); ++i) {
    if (!launch_internal::IsCacheParam(f_.node(root_[f_.results[i]]))) {
      return Unimplemented(f_, f_.node(f_.results[i]), "results after the logits must be caches");
    }
  }
  plan.vocab = logits.type.shape[2].size;
  for (ValueId id : f_.params) {
    const Node& p = f_.node(id);
    if (p.name == "input_ids") {
      KILN_ASSIGN_OR_RETURN(plan.input_ids, BufferOf(id));
    }
    if (p.name == "positions") {
      KILN_ASSIGN_OR_RETURN(plan.positions, BufferOf(id));
    }
  }
  if (plan.input_ids.bytes == 0 || plan.positions.bytes == 0) {
    return absl::InvalidArgumentError("@" + f_.name + " lacks %input_ids or %positions");
  }
  plan.batch = f_.node(f_.params[0]).type.shape[0].size;
  plan.seq = f_.node(f_.params[0]).type.shape[1].size;
  return absl::OkStatus();
}

absl::StatusOr<LaunchPlan> PlanBuilder::Build() {
  ResolveAliases();
  LaunchPlan plan;
  plan.function = f_.name;
  KILN_RETURN_IF_ERROR(CheckResults(plan));
  KILN_RETURN_IF_ERROR(AddRowKernels());
  for (ValueId id = 0; id < static_cast<ValueId>(f_.nodes.size()); ++id) {
    if (f_.node(id).op == Op::kMatmulNT) KILN_RETURN_IF_ERROR(AddGemm(id));
    if (f_.node(id).op == Op::kAttention) KILN_RETURN_IF_ERROR(AddAttention(id));
    if (IsQuantizedGather(f_.node(id))) KILN_RETURN_IF_ERROR(AddGatherRows(id));
  }
  for (ValueId id = 0; id < static_cast<ValueId>(f_.nodes.size()); ++id) {
    if (!covered_[id]) return Unimplemented(f_, f_.node(id), "no kernel computes this op");
  }
  KILN_ASSIGN_OR_RETURN(plan.logits, BufferOf(f_.results[0]));
  plan.sampler = {plan.logits.dtype, codegen::sampling::SamplingThreads(plan.vocab, info_)};
  KILN_RETURN_IF_ERROR(AddArgmax(plan.logits));
  KILN_ASSIGN_OR_RETURN(plan.steps, launch_internal::OrderSteps(std::move(pending_)));
  KILN_RETURN_IF_ERROR(launch_internal::PlaceScratch(plan));
  return plan;
}

}  // namespace

absl::StatusOr<LaunchPlan> BuildLaunchPlan(const Module& module, const std::string& function,
                                           const StaticLayout& layout,
                                           const codegen::GpuTarget& info) {
  const Function* f = module.FindFunction(function);
  if (f == nullptr) return absl::NotFoundError("the module has no function @" + function);
  return PlanBuilder(module, *f, layout, info).Build();
}

}  // namespace kiln
