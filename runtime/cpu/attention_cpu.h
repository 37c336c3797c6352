// Attention for the CPU executor: the rotary embedding fused with the
// KV-cache write, and attention of queries against the cache. Plain
// pointers over the executor's flat buffers; the caller splits the work
// over its threads and provides all memory (nothing allocates).
//
// The specification is the reference executor (runtime/reference/
// ops_attention.cc: rope, kv_cache_write, attention) with ir/op.h's
// Precision note; tests/runtime/cpu/attention_cpu_test.cc checks every
// kernel level against it.
//
// Layouts (row-major, elements of `dtype` unless said otherwise):
//   q, q_out, out   [batch, seq, heads, head_dim]
//   k, v            [batch, seq, kv_heads, head_dim]   (new keys and values)
//   k_cache/v_cache [batch, capacity, kv_heads, head_dim] in `cache_dtype`
//   pos             [batch, seq] int32 cache slots, each in [0, capacity)
//                   (the caller has checked them)
//   cos_sin         [capacity, head_dim] f32: at slot p, cos(p f_i) for
//                   i < head_dim/2 then sin(p f_i), rounded to `dtype`
//                   (codegen/attention/attention_host.h RopeCosSinTable)
// dtype is f32, f16 or bf16 (the activations); cache_dtype is f32, f16 or
// bf16 (an f16/bf16 cache under an f32 model is an engine option).
#ifndef KILN_RUNTIME_CPU_ATTENTION_CPU_H_
#define KILN_RUNTIME_CPU_ATTENTION_CPU_H_

#include <cstdint>

#include "base/dtype.h"

namespace kiln::cpu {

struct AttentionDims {
  int64_t batch = 1, seq = 1, heads = 1, kv_heads = 1, head_dim = 64, capacity = 1;
};

// The instruction sets the kernels are built for. kPortable is plain C++
// (the kernels' own spec, and the path of a CPU without AVX2); kAvx2 needs
// AVX2 + FMA + F16C; kAvx512 needs AVX-512 F/BW/VL/DQ besides.
enum class AttentionIsa : uint8_t { kPortable, kAvx2, kAvx512 };

// The best level this CPU supports (CPUID, read once).
AttentionIsa BestAttentionIsa();
const char* AttentionIsaName(AttentionIsa isa);

// ---------------------------------------------------------------- rope + cache write

// For tokens t in [token_begin, token_end) of the batch*seq tokens (t = b *
// seq + s): rotates q[t] (all heads) into q_out[t] (q_out may alias q) and
// k[t] by the table row pos[t] (cos_sin == nullptr: no rotation, q is
// copied unless q_out aliases q), then stores the rotated k and v of t into
// k_cache/v_cache at [b, pos[t]], converted to cache_dtype. No other cache
// slot is touched. Threads split the token range.
//
// Rounding: the reference's. Rotate-half, for i < d/2, with c = cos and s =
// sin of the row: y_i = r(r(x_i c) + r(-x_{i+d/2} s)), y_{i+d/2} =
// r(r(x_{i+d/2} c) + r(x_i s)), r = round to dtype; the cache store rounds
// once more to cache_dtype (round to nearest even, as base/half.h).
void RopeKvWrite(const AttentionDims& dims, DType dtype, DType cache_dtype, const void* q,
                 const void* k, const void* v, const int32_t* pos, const float* cos_sin,
                 void* q_out, void* k_cache, void* v_cache, int64_t token_begin, int64_t token_end);

// ---------------------------------------------------------------- attention

// out[b, s, h] = sum_j softmax_j(scale * q[b,s,h] . k[b,j,g]) v[b,j,g] over
// the visible slots j: j <= p = pos[b, s], and p - j < window when window >
// 0; g = h / (heads / kv_heads). Slots outside that range are never read,
// so an unwritten (even NaN) cache tail is harmless.
//
// Work decomposition (flash attention with fixed key chunks):
//   - keys are cut into chunks of kAttentionChunk slots at absolute slot
//     offsets (chunk c = [c*C, (c+1)*C)); within a chunk, rows run an
//     online softmax over blocks of keys;
//   - a work item is (b, query tile, kv head, chunk): a tile of up to
//     kAttentionTile consecutive tokens of one batch row times the heads
//     of one kv head's group, so every K/V block loaded serves tile x group
//     rows; items of masked-out chunks cost nothing;
//   - a row whose visible keys lie in one chunk is finished by its item;
//     a row spanning several chunks leaves a partial (running max, sum,
//     unnormalised output) per chunk in `partials`, and AttentionCombine
//     merges them after every item is done.
// A row's arithmetic depends only on its own query, position and the
// cache (never on the tile, the batch, the thread count or the partition),
// so results are bitwise the same for any threads and batch composition,
// and a token attended in a prefill equals the same token in decode.
//
// Usage, T threads (e.g. inside one ThreadPool::Run):
//   AttentionPlan plan = PlanAttention(dims);           // once per shape
//   per thread t: [b, e) = AttentionItemRange(plan, dims, window, pos, t, T)
//     Attention(plan, dims, ..., b, e, scratch_t, partials);
//   barrier (only when plan.combine_rows > 0)
//   per thread t: AttentionCombine over its share of [0, plan.combine_rows).
inline constexpr int64_t kAttentionChunk = 256;  // keys per chunk
inline constexpr int64_t kAttentionTile = 16;    // queries per tile
inline constexpr int64_t kAttentionBlock = 32;   // keys per online-softmax block

struct AttentionPlan {
  int64_t tiles = 0;          // query tiles per batch row
  int64_t chunks = 0;         // key chunks over the capacity
  int64_t items = 0;          // batch * tiles * kv_heads * chunks
  int64_t scratch_bytes = 0;  // per thread, 64-byte aligned by the caller
  int64_t partial_bytes = 0;  // shared by all threads; 0 when chunks == 1
  int64_t combine_rows = 0;   // batch * seq * heads when chunks > 1, else 0
};

AttentionPlan PlanAttention(const AttentionDims& dims);

// The items [*begin, *end) thread `thread` of `threads` should run: the
// items cut into contiguous ranges of about equal cost, the cost of an item
// being its visible (query, key) pairs read from pos (costs O(items)).
void AttentionItemRange(const AttentionPlan& plan, const AttentionDims& dims, int64_t window,
                        const int32_t* pos, int thread, int threads, int64_t* begin, int64_t* end);

// Runs items [item_begin, item_end). `scratch` is plan.scratch_bytes,
// 64-byte aligned, private to the calling thread; `partials` is
// plan.partial_bytes shared by all threads (null when 0).
void Attention(const AttentionPlan& plan, const AttentionDims& dims, AttentionIsa isa, DType dtype,
               DType cache_dtype, float scale, int64_t window, const void* q, const void* k_cache,
               const void* v_cache, const int32_t* pos, void* out, int64_t item_begin,
               int64_t item_end, void* scratch, void* partials);

// Writes out for the rows [row_begin, row_end) of [0, plan.combine_rows)
// (row = (b * seq + s) * heads + h) whose keys span several chunks,
// merging their partials in chunk order; other rows are left alone.
void AttentionCombine(const AttentionPlan& plan, const AttentionDims& dims, DType dtype,
                      int64_t window, const int32_t* pos, const void* partials, void* out,
                      int64_t row_begin, int64_t row_end);

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_ATTENTION_CPU_H_
