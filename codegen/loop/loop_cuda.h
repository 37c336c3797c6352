// The loop kernels every CUDA engine carries: loop_control.h's rounds as
// two single-thread kernels around a step, for a CUDA graph of the shape
//   WHILE (go) { prepare; SWITCH (bucket) { step plans }; finish }
// (runtime/cuda/device_api.h CaptureLoop). One translation unit, compiled
// by NVRTC like every other kernel; the emulator runs the same text.
//
// Launch: grid 1, block 1, no shared memory:
//   kiln_loop_prepare(int* state, const int* config, const int* history,
//                     int* step_ids, int* step_positions,
//                     unsigned long long* sample_counter,
//                     cudaGraphConditionalHandle bucket)
//     sets `bucket` to the round's bucket and, for a sampled plan, the
//     sampler's draw counter of each of the step's rows (`sample_counter`
//     is row 0's SampleParams counter field, in an array of SampleParams);
//   kiln_loop_finish(int* state, const int* config, int* history,
//                    const int* step_ids,
//                    const unsigned long long* bucket_outputs,
//                    int* out, int* out_count, const int* host_stop,
//                    cudaGraphConditionalHandle go)
//     bucket_outputs[3 b], [3 b + 1] and [3 b + 2] are the device addresses
//     of bucket b's next_tokens (for a sampled plan: the sampler's tokens),
//     fault and logits (config's kLoopVocab and kLoopLogitsDtype describe
//     them); `out`, `out_count` and `host_stop`
//     are host memory mapped into the device; sets `go` to 0 when the loop
//     ends.
#ifndef KILN_CODEGEN_LOOP_LOOP_CUDA_H_
#define KILN_CODEGEN_LOOP_LOOP_CUDA_H_

#include <string>

namespace kiln::codegen::loop {

inline constexpr char kPrepareKernel[] = "kiln_loop_prepare";
inline constexpr char kFinishKernel[] = "kiln_loop_finish";

// The translation unit defining both kernels (no #include).
std::string RenderLoopCuda();

}  // namespace kiln::codegen::loop

#endif  // KILN_CODEGEN_LOOP_LOOP_CUDA_H_
