#include "tests/support/plan_host_executor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "codegen/attention/attention_host.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "base/half.h"

namespace kiln {
namespace {

namespace attn = codegen::attention;

int64_t ElementBytes(DType dtype) { return *StorageBytes(dtype, 1); }

}  // namespace

absl::StatusOr<std::unique_ptr<HostPlanExecutor>> HostPlanExecutor::Create(
    const Module& module, const WeightMap& weights, StaticLayout layout,
    std::vector<LaunchPlan> plans, std::map<std::string, HostKernelFn> host_kernels,
    std::map<std::string, std::string> host_kernel_ir) {
  std::unique_ptr<HostPlanExecutor> ex(new HostPlanExecutor());
  ex->layout_ = std::move(layout);
  ex->plans_ = std::move(plans);
  ex->host_kernels_ = std::move(host_kernels);
  ex->host_kernel_ir_ = std::move(host_kernel_ir);
  int64_t scratch = 0;
  for (const LaunchPlan& p : ex->plans_) scratch = std::max(scratch, p.scratch_bytes);
  ex->spaces_[ArenaSpace::kWeights].assign(ex->layout_.weights_bytes, 0);
  ex->spaces_[ArenaSpace::kCaches].assign(ex->layout_.caches_bytes, 0);
  ex->spaces_[ArenaSpace::kInputs].assign(ex->layout_.inputs_bytes, 0);
  ex->spaces_[ArenaSpace::kTables].assign(ex->layout_.tables_bytes, 0);
  ex->spaces_[ArenaSpace::kScratch].assign(scratch, 0);
  for (const WeightDecl& w : module.weights) {
    if (!weights.contains(w.name)) return absl::NotFoundError("missing weight " + w.name);
  }
  KILN_RETURN_IF_ERROR(ex->UploadWeights(weights));
  ex->UploadTables();
  return ex;
}

uint8_t* HostPlanExecutor::Address(const DeviceBuffer& b) {
  return spaces_[b.space].data() + b.offset;
}

std::vector<float> HostPlanExecutor::ReadFloats(const DeviceBuffer& b, int64_t count) {
  if (count < 0) count = b.bytes / ElementBytes(b.dtype);
  return DecodeFloats({Address(b), static_cast<size_t>(count * ElementBytes(b.dtype))}, b.dtype);
}

void HostPlanExecutor::WriteFloats(const DeviceBuffer& b, std::span<const float> values) {
  const std::vector<uint8_t> bytes = EncodeFloats(values, b.dtype);
  std::memcpy(Address(b), bytes.data(), bytes.size());
}

absl::Status HostPlanExecutor::UploadWeights(const WeightMap& weights) {
  for (const auto& [name, buffer] : layout_.weights) {
    const HostTensor& t = weights.find(name)->second;
    if (!IsFloat(t.dtype) || t.dtype != buffer.dtype) {
      return absl::InvalidArgumentError("weight " + name + " is not a float of its declared dtype");
    }
    WriteFloats(buffer, t.floats);
  }
  return absl::OkStatus();
}

void HostPlanExecutor::UploadTables() {
  for (const RopeTable& t : layout_.tables) WriteFloats(t.buffer, RopeTableValues(t));
}

absl::StatusOr<PlanOutput> HostPlanExecutor::Run(const std::string& function,
                                                 std::span<const int32_t> input_ids,
                                                 std::span<const int32_t> positions,
                                                 bool copy_logits) {
  KILN_ASSIGN_OR_RETURN(const LaunchPlan* plan, FindPlan(plans_, function));
  const size_t tokens = static_cast<size_t>(plan->batch * plan->seq);
  if (input_ids.size() != tokens || positions.size() != tokens) {
    return absl::InvalidArgumentError(absl::StrCat("@", function, " takes ", tokens, " tokens"));
  }
  std::memcpy(Address(plan->input_ids), input_ids.data(), tokens * 4);
  std::memcpy(Address(plan->positions), positions.data(), tokens * 4);
  std::memset(Address(plan->fault), 0, 4);
  running_ = plan;
  host_rendered_steps_ = reference_steps_ = 0;
  for (const LaunchStep& step : plan->steps) KILN_RETURN_IF_ERROR(RunStep(step));
  int32_t fault = 0;
  std::memcpy(&fault, Address(plan->fault), 4);
  if (fault != 0) {
    return absl::InvalidArgumentError("a token id or cache position was out of range");
  }
  PlanOutput out;
  if (copy_logits) out.logits = ReadFloats(plan->logits);
  out.next_tokens.resize(plan->next_tokens.bytes / 4);
  std::memcpy(out.next_tokens.data(), Address(plan->next_tokens), plan->next_tokens.bytes);
  return out;
}

absl::StatusOr<int32_t> HostPlanExecutor::SampleRow(const std::string& function, int64_t row,
                                                    const codegen::sampling::SampleParams& params) {
  KILN_ASSIGN_OR_RETURN(const LaunchPlan* plan, FindPlan(plans_, function));
  KILN_RETURN_IF_ERROR(CheckSampleRow(function, plan->batch * plan->seq, row, params));
  DeviceBuffer logits = plan->logits;
  logits.offset += row * plan->vocab * ElementBytes(logits.dtype);
  const std::vector<float> values = ReadFloats(logits, plan->vocab);
  const codegen::sampling::SampleResult r =
      codegen::sampling::SampleRowTwin(values, params, plan->sampler.threads);
  if (r.fault) return absl::DataLossError("the logits hold a NaN: the request cannot sample");
  return r.token;
}

absl::Status HostPlanExecutor::ResetCaches() {
  std::vector<uint8_t>& caches = spaces_[ArenaSpace::kCaches];
  std::fill(caches.begin(), caches.end(), 0);
  return absl::OkStatus();
}

void HostPlanExecutor::SetFault() {
  const int32_t one = 1;
  std::memcpy(Address(running_->fault), &one, 4);
}

absl::Status HostPlanExecutor::RunStep(const LaunchStep& step) {
  if (const auto* row = std::get_if<RowKernelStep>(&step.op)) return RunRowKernel(*row);
  if (const auto* gemm = std::get_if<GemmStep>(&step.op)) RunGemm(*gemm);
  if (const auto* rope = std::get_if<RopeKvWriteStep>(&step.op)) RunRopeKvWrite(*rope);
  if (const auto* a = std::get_if<AttentionStep>(&step.op)) RunAttention(*a);
  return absl::OkStatus();
}

absl::Status HostPlanExecutor::RunRowKernel(const RowKernelStep& step) {
  auto host = host_kernels_.find(step.desc.name);
  auto host_ir = host_kernel_ir_.find(step.desc.name);
  if (host != host_kernels_.end() && host_ir != host_kernel_ir_.end() &&
      host_ir->second == step.desc.ir) {
    std::vector<void*> pointers;
    for (const DeviceBuffer& b : step.buffers) pointers.push_back(Address(b));
    host->second(pointers.data(), step.rows);
    ++host_rendered_steps_;
    return absl::OkStatus();
  }
  // The kernel's specification: its IR on the reference executor.
  auto& ref = kernel_refs_[step.desc.name];
  if (ref == nullptr) {
    KILN_ASSIGN_OR_RETURN(Module m, ParseModule(step.desc.ir));
    KILN_ASSIGN_OR_RETURN(ReferenceExecutor ex, ReferenceExecutor::Create(std::move(m), WeightMap{}));
    ref = std::make_unique<ReferenceExecutor>(std::move(ex));
  }
  const Function& f = ref->module().functions[0];
  auto buffer_named = [&](const std::string& name) -> const DeviceBuffer* {
    for (size_t i = 0; i < step.buffers.size(); ++i) {
      if (step.desc.buffers[i].name == name) return &step.buffers[i];
    }
    return nullptr;
  };
  std::vector<HostTensor> inputs;
  for (ValueId id : f.params) {
    const Node& p = f.node(id);
    const DeviceBuffer* b = buffer_named(p.name);
    if (b == nullptr) return absl::InternalError("kernel input " + p.name + " has no buffer");
    std::vector<int64_t> shape;
    for (const Dim& d : p.type.shape) shape.push_back(d.is_static() ? d.size : step.rows);
    if (p.type.dtype == DType::kI32) {
      std::vector<int64_t> ints(static_cast<size_t>(NumElements(shape)));
      for (size_t i = 0; i < ints.size(); ++i) {
        int32_t v;
        std::memcpy(&v, Address(*b) + 4 * i, 4);
        ints[i] = v;
      }
      inputs.push_back(HostTensor::FromInts(DType::kI32, shape, std::move(ints)));
    } else {
      inputs.push_back(
          HostTensor::FromFloats(p.type.dtype, shape, ReadFloats(*b, NumElements(shape))));
    }
  }
  absl::StatusOr<std::vector<HostTensor>> outputs = ref->Run(f.name, std::move(inputs));
  if (!outputs.ok()) {  // an out-of-range id: what the kernel's fault flag reports
    int32_t one = 1;
    for (size_t i = 0; i < step.buffers.size(); ++i) {
      if (step.desc.buffers[i].indexing == codegen::Indexing::kScalar) {
        std::memcpy(Address(step.buffers[i]), &one, 4);
      }
    }
    return absl::OkStatus();
  }
  for (size_t r = 0; r < f.results.size(); ++r) {
    const DeviceBuffer* b = buffer_named(f.node(f.results[r]).name);
    if (b == nullptr) return absl::InternalError("kernel result has no buffer");
    const HostTensor& t = (*outputs)[r];
    if (t.dtype == DType::kI32) {
      for (size_t i = 0; i < t.ints.size(); ++i) {
        const int32_t v = static_cast<int32_t>(t.ints[i]);
        std::memcpy(Address(*b) + 4 * i, &v, 4);
      }
    } else {
      WriteFloats(*b, t.floats);
    }
  }
  ++reference_steps_;
  return absl::OkStatus();
}

void HostPlanExecutor::RunGemm(const GemmStep& g) {
  const std::vector<float> x = ReadFloats(g.x, g.m * g.k), w = ReadFloats(g.w);
  const std::vector<float> bias = g.bias.bytes > 0 ? ReadFloats(g.bias) : std::vector<float>();
  std::vector<float> out(static_cast<size_t>(g.m * g.n));
  for (int64_t r = 0; r < g.m; ++r) {
    for (int64_t j = 0; j < g.n; ++j) {
      float acc = 0.0f;
      for (int64_t i = 0; i < g.k; ++i) acc += x[r * g.k + i] * w[j * g.k + i];
      out[r * g.n + j] = acc + (bias.empty() ? 0.0f : bias[j]);
    }
  }
  WriteFloats(g.out, out);
}

void HostPlanExecutor::RunRopeKvWrite(const RopeKvWriteStep& s) {
  const attn::AttentionShape& shape = s.variant.shape;
  const int64_t tokens = s.batch * s.seq;
  std::vector<float> q = ReadFloats(s.q, tokens * shape.heads * shape.head_dim);
  std::vector<float> k = ReadFloats(s.k, tokens * shape.kv_heads * shape.head_dim);
  std::vector<float> v = ReadFloats(s.v, tokens * shape.kv_heads * shape.head_dim);
  std::vector<int32_t> pos(static_cast<size_t>(tokens));
  std::memcpy(pos.data(), Address(s.pos), tokens * 4);
  std::vector<float> cos_sin = ReadFloats(s.cos_sin);
  std::vector<float> k_cache = ReadFloats(s.k_cache), v_cache = ReadFloats(s.v_cache);
  attn::RopeKvInputs in{s.batch, s.seq, s.capacity, q, k, v, pos, cos_sin};
  attn::TwinOutput out = attn::RopeKvWriteTwin(shape, in, k_cache, v_cache);
  WriteFloats(s.q_out, out.out);
  WriteFloats(s.k_cache, k_cache);
  WriteFloats(s.v_cache, v_cache);
  if (out.fault) SetFault();
}

void HostPlanExecutor::RunAttention(const AttentionStep& s) {
  const attn::AttentionShape& shape = s.variant.shape;
  const int64_t tokens = s.batch * s.seq;
  std::vector<float> q = ReadFloats(s.q, tokens * shape.heads * shape.head_dim);
  std::vector<int32_t> pos(static_cast<size_t>(tokens));
  std::memcpy(pos.data(), Address(s.pos), tokens * 4);
  std::vector<float> k_cache = ReadFloats(s.k_cache), v_cache = ReadFloats(s.v_cache);
  attn::AttentionInputs in{s.batch, s.seq, s.capacity, s.scale, s.window, q, k_cache, v_cache, pos};
  bool fault = false;
  if (s.variant.kind == attn::KernelKind::kPrefill) {
    attn::TwinOutput out = attn::FlashPrefillTwin(shape, s.variant.tiles, in);
    WriteFloats(s.out, out.out);
    fault = out.fault;
  } else {
    attn::DecodePartials partials = attn::SplitKvDecodeTwin(shape, s.variant.tiles, in, s.splits);
    WriteFloats(s.out, attn::DecodeCombineTwin(shape, partials));
    fault = partials.fault;
  }
  if (fault) SetFault();
}

}  // namespace kiln
