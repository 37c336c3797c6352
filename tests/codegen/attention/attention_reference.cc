#include "tests/codegen/attention/attention_reference.h"

#include <utility>

#include "ir/builder.h"
#include "tests/support/one_op.h"

namespace kiln::codegen::attention::testing {
namespace {

HostTensor Tensor(DType dtype, std::vector<int64_t> shape, std::span<const float> values) {
  return HostTensor::FromFloats(dtype, std::move(shape),
                                std::vector<float>(values.begin(), values.end()));
}

HostTensor PositionTensor(int64_t batch, int64_t seq, std::span<const int32_t> pos) {
  return HostTensor::FromInts(DType::kI32, {batch, seq},
                              std::vector<int64_t>(pos.begin(), pos.end()));
}

}  // namespace

absl::StatusOr<HostTensor> ReferenceAttention(const Problem& p) {
  const AttentionShape& sh = p.shape;
  Attrs attrs = {{"scale", static_cast<double>(p.scale)}};
  if (p.window > 0) attrs["window"] = p.window;
  return ::kiln::testing::RunOneOp(
      Op::kAttention,
      {Tensor(sh.dtype, {p.batch, p.seq, sh.heads, sh.head_dim}, p.q),
       Tensor(sh.dtype, {p.batch, p.capacity, sh.kv_heads, sh.head_dim}, p.k_cache),
       Tensor(sh.dtype, {p.batch, p.capacity, sh.kv_heads, sh.head_dim}, p.v_cache),
       PositionTensor(p.batch, p.seq, p.pos)},
      attrs);
}

absl::StatusOr<RopeKvResult> ReferenceRopeKvWrite(const AttentionShape& shape,
                                                  const RopeParams& rope, const RopeKvInputs& in,
                                                  std::span<const float> k_cache,
                                                  std::span<const float> v_cache) {
  const Attrs attrs = {{"theta", static_cast<double>(rope.theta)},
                       {"scaling", rope.scaling},
                       {"factor", static_cast<double>(rope.factor)},
                       {"low_freq_factor", static_cast<double>(rope.low_freq_factor)},
                       {"high_freq_factor", static_cast<double>(rope.high_freq_factor)},
                       {"original_max_position", rope.original_max_position}};
  const DType dt = shape.dtype;
  const int64_t b = in.batch, s = in.seq, d = shape.head_dim;
  absl::StatusOr<HostTensor> q = ::kiln::testing::RunOneOp(
      Op::kRope, {Tensor(dt, {b, s, shape.heads, d}, in.q), PositionTensor(b, s, in.pos)}, attrs);
  if (!q.ok()) return q.status();
  absl::StatusOr<HostTensor> k_rot = ::kiln::testing::RunOneOp(
      Op::kRope, {Tensor(dt, {b, s, shape.kv_heads, d}, in.k), PositionTensor(b, s, in.pos)},
      attrs);
  if (!k_rot.ok()) return k_rot.status();
  const std::vector<int64_t> cache_shape = {b, in.capacity, shape.kv_heads, d};
  absl::StatusOr<HostTensor> k = ::kiln::testing::RunOneOp(
      Op::kKvCacheWrite,
      {Tensor(dt, cache_shape, k_cache), *std::move(k_rot), PositionTensor(b, s, in.pos)});
  if (!k.ok()) return k.status();
  absl::StatusOr<HostTensor> v = ::kiln::testing::RunOneOp(
      Op::kKvCacheWrite, {Tensor(dt, cache_shape, v_cache), Tensor(dt, {b, s, shape.kv_heads, d}, in.v),
                          PositionTensor(b, s, in.pos)});
  if (!v.ok()) return v.status();
  return RopeKvResult{std::move(q->floats), std::move(k->floats), std::move(v->floats)};
}

}  // namespace kiln::codegen::attention::testing
