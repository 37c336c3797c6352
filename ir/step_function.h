// The step-function ABI: the contract between the model builders, which
// emit step functions, and every executor and session, which call them.
#ifndef KILN_IR_STEP_FUNCTION_H_
#define KILN_IR_STEP_FUNCTION_H_

namespace kiln {

// Name of the function every builder emits. Its signature is
//   @forward(%input_ids: i32[batch,seq], %positions: i32[batch,seq],
//            %k_cache.0: T[batch,cache,kv_heads,head_dim], %v_cache.0: ..., ...)
// returning (%logits: T[batch,seq,vocab], the updated caches in the same
// order). positions[b, s] is the absolute position of token (b, s), which is
// also its slot in the static KV cache. Shape specialisation clones it into
// one function per (batch, length) bucket with the same signature.
inline constexpr char kForwardFunction[] = "forward";

}  // namespace kiln

#endif  // KILN_IR_STEP_FUNCTION_H_
