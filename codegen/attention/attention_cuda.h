// CUDA C++ sources of the hand-written attention kernels, one NVRTC
// translation unit per KernelVariant. Each source is a fixed template whose
// model and tile parameters are `constexpr` constants at its top, so ptxas
// sees every loop bound and keeps the per-row state in registers. It needs
// no header: the f16/bf16 conversions are PTX cvt.rn instructions (hence
// sm_80 or later, for cvt.rn.bf16.f32).
//
// Semantics: the reference executor's attention (prefill, decode +
// combine) and rope + kv_cache_write (rope_kv_write), within TESTING.md's
// tolerances; rope_kv_write bit for bit, since its cos/sin table is an
// input (attention_host.h). Every multiply-add is an explicit fmaf and every
// other product an explicit __fmul_rn, so ptxas cannot contract, and the
// result depends only on the tiles and the order written here, never on the
// compiler. The CUDA emulator runs this exact source against the reference
// (tests/codegen/attention/attention_emulator_test.cc).
//
// Layouts (row-major, `dtype` unless said):
//   q, out        [batch, seq, heads, head_dim]   (the IR's attention result)
//   k, v (new)    [batch, seq, kv_heads, head_dim]
//   k/v caches    [batch, capacity, kv_heads, head_dim]
//   pos           [batch, seq] int32 cache positions
//   cos_sin       [capacity, head_dim]: cos(p * inv_freq[i]) at i < head_dim/2,
//                 sin at head_dim/2 + i, rounded to dtype (RopeCosSinTable)
//   decode partials: acc f32 [batch, seq, heads, splits, head_dim] and
//                 (m, l) f32 [batch, seq, heads, splits, 2]
//   fault         one int32, set to 1 when a position is outside
//                 [0, capacity); such a row's output is zeros (and its
//                 cache slot is not written), where the reference executor
//                 returns an error.
//
// Launches (dynamic shared memory = AttentionSharedBytes for prefill and
// decode, which needs cudaFuncAttributeMaxDynamicSharedMemorySize above
// 48 KiB; none for the others):
//   prefill  grid (ceil(seq / block_m), heads, batch), block tiles.threads()
//     (q, k_cache, v_cache, pos, out, fault, int seq, int capacity,
//      float scale, int window)
//   decode   grid (splits, kv_heads * DecodeRowBlocks, batch), block threads()
//     (q, k_cache, v_cache, pos, float* acc, float* ml, fault, int seq,
//      int capacity, float scale, int window, int splits)
//   combine  grid (batch * seq * heads), block CombineThreads
//     (const float* acc, const float* ml, out, int splits)
//   rope_kv_write  grid (batch * seq), block kRopeThreads
//     (q, k, v, pos, cos_sin, q_out, k_cache, v_cache, fault, int seq,
//      int capacity); q_out may alias q.
#ifndef KILN_CODEGEN_ATTENTION_ATTENTION_CUDA_H_
#define KILN_CODEGEN_ATTENTION_ATTENTION_CUDA_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/attention/attention_config.h"

namespace kiln::codegen::attention {

// The complete translation unit of `variant`, defining one
// `extern "C" __global__` function named KernelName(variant).
absl::StatusOr<std::string> RenderAttentionCuda(const KernelVariant& variant);

}  // namespace kiln::codegen::attention

#endif  // KILN_CODEGEN_ATTENTION_ATTENTION_CUDA_H_
