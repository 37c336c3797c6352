// The calls between an emulated kernel module and the emulator that runs it.
//
// A kernel module is Kiln's CUDA source text compiled by the host C++
// compiler with kernel_prelude.h force-included (kernel_module.cc). The
// module cannot link against the process that loads it (a test binary or
// bin/generate are not built with -rdynamic), so the emulator hands it this
// table of function pointers once, through the module's exported
// `kiln_emu_bind`, and every CUDA builtin of the prelude that needs the
// scheduler (barriers, warp collectives, the current thread's indices) or
// the checker (every instrumented memory access) calls through it.
//
// This header is plain C++ with no includes beyond <cstddef>/<cstdint>: it
// is compiled into the emulator and, as text, into every kernel module, so
// both sides see one definition. kKilnEmuAbiVersion changes with it.
#ifndef KILN_RUNTIME_EMULATOR_DEVICE_ABI_H_
#define KILN_RUNTIME_EMULATOR_DEVICE_ABI_H_

#include <cstddef>
#include <cstdint>

inline constexpr int kKilnEmuAbiVersion = 2;

// CUDA's uint3/dim3 layout: the indices a thread reads.
struct KilnEmuDim {
  unsigned x, y, z;
};

// What threadIdx, blockIdx, blockDim and gridDim read for the running thread.
struct KilnEmuThreadIndex {
  KilnEmuDim thread_idx;
  KilnEmuDim block_idx;
  KilnEmuDim block_dim;
  KilnEmuDim grid_dim;
};

// The warp collectives, one rendezvous each.
enum KilnEmuWarpOp : int {
  kKilnEmuShflIdx = 0,   // __shfl_sync: value of lane (arg % width) of the segment
  kKilnEmuShflUp = 1,    // __shfl_up_sync: lane - arg, own value below the segment
  kKilnEmuShflDown = 2,  // __shfl_down_sync: lane + arg, own value past the segment
  kKilnEmuShflXor = 3,   // __shfl_xor_sync: lane ^ arg, own value past the segment
  kKilnEmuBallot = 4,    // __ballot_sync: bit per lane of mask whose value != 0
  kKilnEmuSyncWarp = 5,  // __syncwarp
};

// The block barriers; the reduction variants return a value.
enum KilnEmuBarrierOp : int {
  kKilnEmuSyncThreads = 0,       // __syncthreads
  kKilnEmuSyncThreadsOr = 1,     // __syncthreads_or
  kKilnEmuSyncThreadsAnd = 2,    // __syncthreads_and
  kKilnEmuSyncThreadsCount = 3,  // __syncthreads_count
};

struct KilnEmuAbi {
  int version;
  // The running thread's indices; valid only inside a launch.
  const KilnEmuThreadIndex* (*thread_index)();
  // Block barrier at `line` of the kernel source; returns the reduction.
  int (*barrier)(int op, int predicate, int line);
  // Warp collective at `line`: `value` is the lane's 32 or 64 bits.
  uint64_t (*warp)(int op, unsigned mask, uint64_t value, int arg, int width, int line);
  // The launch's dynamic shared memory (its byte count is enforced).
  void* (*dynamic_shared)();
  // An instrumented load or store of `bytes` at `address`, issued by the
  // code at `pc`; checked for bounds and shared-memory races.
  void (*access)(const void* address, size_t bytes, int is_write, const void* pc);
  // An atomic or explicit-PTX access: bounds and alignment only, no race
  // bookkeeping (atomics cannot race; PTX loads name their line).
  void (*checked_access)(const void* address, size_t bytes, size_t alignment, int is_write,
                         int line, const char* what);
  // The PTX conversions cvt.f32.f16, cvt.rn.f16.f32 and cvt.rn.bf16.f32
  // (round to nearest even; base/half.h).
  float (*cvt_f32_f16)(unsigned short);
  unsigned short (*cvt_rn_f16_f32)(float);
  unsigned short (*cvt_rn_bf16_f32)(float);
  // A misaligned typed access the compiler's alignment check found.
  void (*misaligned)(const char* file, unsigned line, const void* address, size_t alignment);
  // cudaGraphSetConditional: `handle` must be one a loop graph registered
  // (launch.h RegisterCondition).
  void (*set_condition)(unsigned long long handle, unsigned value);
};

#endif  // KILN_RUNTIME_EMULATOR_DEVICE_ABI_H_
