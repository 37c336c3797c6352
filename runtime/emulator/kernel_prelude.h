// The emulation prelude: force-included (g++ -include) before Kiln's CUDA
// source text when the emulator compiles it for the host, so the very
// bytes NVRTC compiles run on the CPU with CUDA's semantics. It renders
// the CUDA subset Kiln's kernels use:
//   - qualifiers: __global__/__device__/__forceinline__/__launch_bounds__
//     vanish or become inline; __shared__ variables become function-local
//     statics. Blocks run one after another, so "one copy per block" is one
//     copy, and the module's .bss holds exactly the kernels' static shared
//     memory: the emulator poisons it (0xFF) before each block and checks
//     every access to it for races.
//   - threadIdx/blockIdx/blockDim/gridDim read the running fiber's indices;
//     barriers and warp collectives are rendezvous in the emulator's
//     scheduler (device_abi.h), which reports divergence and source lines;
//   - vector types with CUDA's alignment, bit casts, the _rn arithmetic
//     intrinsics (the host's IEEE single and double operations round to
//     nearest even, as CUDA's do; the module is built with
//     -ffp-contract=off, as NVRTC runs with --fmad=false), CUDA's
//     min/max overloads, shared and global atomics;
//   - the inline-PTX patterns, each behind one KILN_PTX_* macro the CUDA
//     source defines for NVRTC and this prelude defines first (see
//     codegen/cuda_ptx.h): cvt between f32 and f16/bf16 (base/half.h's
//     round-to-nearest-even, through the ABI) and ld.global[.nc] vector
//     loads (cache hints do not change values; the access is checked for
//     bounds and for the alignment PTX requires);
//   - dynamic shared memory through KILN_DYNAMIC_SHARED, sized by the
//     launch;
//   - any other inline asm is a compile error naming it.
// Memory accesses are instrumented by GCC's -fsanitize=thread pass, whose
// callbacks (defined below, not libtsan) forward each load and store to the
// emulator's checker; -fsanitize=alignment's callback reports a misaligned
// typed access (a float4 load from an address that is not 16-byte aligned).
#ifndef KILN_RUNTIME_EMULATOR_KERNEL_PRELUDE_H_
#define KILN_RUNTIME_EMULATOR_KERNEL_PRELUDE_H_

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#ifndef KILN_RUNTIME_EMULATOR_DEVICE_ABI_H_
#include "runtime/emulator/device_abi.h"
#endif

#define KILN_EMULATED 1
#define KILN_EMU_HOOK extern "C" __attribute__((visibility("hidden"), noinline, no_sanitize_thread))
#define KILN_EMU_UNCHECKED __attribute__((no_sanitize_thread))

// ---- The module's link to the emulator ----------------------------------
// Kept out of .bss, which is the kernels' shared memory.
__attribute__((section(".data.kiln_emu"))) static const KilnEmuAbi* kiln_emu_abi = nullptr;

extern "C" __attribute__((visibility("default"), no_sanitize_thread)) int kiln_emu_bind(const KilnEmuAbi* abi) {
  if (abi == nullptr || abi->version != kKilnEmuAbiVersion) return 0;
  kiln_emu_abi = abi;
  return kKilnEmuAbiVersion;
}

// ---- Memory-access callbacks of the -fsanitize=thread instrumentation ----
KILN_EMU_HOOK void __tsan_init() {}
KILN_EMU_HOOK void __tsan_func_entry(void*) {}
KILN_EMU_HOOK void __tsan_func_exit() {}
KILN_EMU_HOOK void __tsan_vptr_update(void**, void*) {}
KILN_EMU_HOOK void __tsan_read_range(void* p, size_t n) {
  kiln_emu_abi->access(p, n, 0, __builtin_return_address(0));
}
KILN_EMU_HOOK void __tsan_write_range(void* p, size_t n) {
  kiln_emu_abi->access(p, n, 1, __builtin_return_address(0));
}
#define KILN_EMU_TSAN_SIZE(n)                                                  \
  KILN_EMU_HOOK void __tsan_read##n(void* p) {                                 \
    kiln_emu_abi->access(p, n, 0, __builtin_return_address(0));                \
  }                                                                            \
  KILN_EMU_HOOK void __tsan_write##n(void* p) {                                \
    kiln_emu_abi->access(p, n, 1, __builtin_return_address(0));                \
  }                                                                            \
  KILN_EMU_HOOK void __tsan_unaligned_read##n(void* p) {                       \
    kiln_emu_abi->access(p, n, 0, __builtin_return_address(0));                \
  }                                                                            \
  KILN_EMU_HOOK void __tsan_unaligned_write##n(void* p) {                      \
    kiln_emu_abi->access(p, n, 1, __builtin_return_address(0));                \
  }
KILN_EMU_TSAN_SIZE(1)
KILN_EMU_TSAN_SIZE(2)
KILN_EMU_TSAN_SIZE(4)
KILN_EMU_TSAN_SIZE(8)
KILN_EMU_TSAN_SIZE(16)
#undef KILN_EMU_TSAN_SIZE

// -fsanitize=alignment's report (GCC's ubsan ABI: location, type, log2 of
// the required alignment, kind of check).
struct KilnEmuSourceLocation {
  const char* file;
  unsigned line;
  unsigned column;
};
struct KilnEmuTypeMismatch {
  KilnEmuSourceLocation location;
  const void* type;
  unsigned char log_alignment;
  unsigned char check_kind;
};
KILN_EMU_HOOK void __ubsan_handle_type_mismatch_v1(KilnEmuTypeMismatch* data, void* pointer) {
  kiln_emu_abi->misaligned(data->location.file, data->location.line, pointer,
                           size_t{1} << data->log_alignment);
}
KILN_EMU_HOOK void __ubsan_handle_type_mismatch_v1_abort(KilnEmuTypeMismatch* data,
                                                          void* pointer) {
  __ubsan_handle_type_mismatch_v1(data, pointer);
}

// ---- Qualifiers -----------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
// Inline PTX other than the KILN_PTX_* patterns has no host rendering: the
// compiler stops at it, naming this identifier and the line.
#define asm KILN_EMULATOR_HAS_NO_RENDERING_OF_THIS_INLINE_PTX
#define __asm__ KILN_EMULATOR_HAS_NO_RENDERING_OF_THIS_INLINE_PTX

// ---- Built-in variables and vector types ----------------------------------
// Read through uninstrumented functions: the index table is the
// emulator's, not memory the kernel may touch.
using uint3 = KilnEmuDim;
KILN_EMU_UNCHECKED inline uint3 kiln_emu_thread_idx() { return kiln_emu_abi->thread_index()->thread_idx; }
KILN_EMU_UNCHECKED inline uint3 kiln_emu_block_idx() { return kiln_emu_abi->thread_index()->block_idx; }
KILN_EMU_UNCHECKED inline uint3 kiln_emu_block_dim() { return kiln_emu_abi->thread_index()->block_dim; }
KILN_EMU_UNCHECKED inline uint3 kiln_emu_grid_dim() { return kiln_emu_abi->thread_index()->grid_dim; }
#define threadIdx (kiln_emu_thread_idx())
#define blockIdx (kiln_emu_block_idx())
#define blockDim (kiln_emu_block_dim())
#define gridDim (kiln_emu_grid_dim())
constexpr int warpSize = 32;

struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- Bit casts and rounded arithmetic ---------------------------------------
template <typename To, typename From>
inline To kiln_emu_bit_cast(From from) {
  static_assert(sizeof(To) == sizeof(From), "bit cast between sizes");
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}
inline float __int_as_float(int x) { return kiln_emu_bit_cast<float>(x); }
inline int __float_as_int(float x) { return kiln_emu_bit_cast<int>(x); }
inline float __uint_as_float(unsigned x) { return kiln_emu_bit_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return kiln_emu_bit_cast<unsigned>(x); }
inline double __longlong_as_double(long long x) { return kiln_emu_bit_cast<double>(x); }
inline long long __double_as_longlong(double x) { return kiln_emu_bit_cast<long long>(x); }

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }

// CUDA's min/max: the integer overloads compare in the usual arithmetic
// conversions' type; the floating ones are fminf/fmaxf (a NaN loses).
template <typename A, typename B>
inline std::common_type_t<A, B> min(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<T>) {
    return std::fmin(static_cast<T>(a), static_cast<T>(b));
  } else {
    return static_cast<T>(b) < static_cast<T>(a) ? static_cast<T>(b) : static_cast<T>(a);
  }
}
template <typename A, typename B>
inline std::common_type_t<A, B> max(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<T>) {
    return std::fmax(static_cast<T>(a), static_cast<T>(b));
  } else {
    return static_cast<T>(a) < static_cast<T>(b) ? static_cast<T>(b) : static_cast<T>(a);
  }
}

// ---- CUDA graph conditional nodes ------------------------------------------
typedef unsigned long long cudaGraphConditionalHandle;
KILN_EMU_UNCHECKED inline void cudaGraphSetConditional(cudaGraphConditionalHandle handle,
                                                       unsigned int value) {
  kiln_emu_abi->set_condition(handle, value);
}

// ---- Barriers and warp collectives ----------------------------------------
KILN_EMU_UNCHECKED inline void __syncthreads(int line = __builtin_LINE()) {
  kiln_emu_abi->barrier(kKilnEmuSyncThreads, 0, line);
}
KILN_EMU_UNCHECKED inline int __syncthreads_or(int p, int line = __builtin_LINE()) {
  return kiln_emu_abi->barrier(kKilnEmuSyncThreadsOr, p, line);
}
KILN_EMU_UNCHECKED inline int __syncthreads_and(int p, int line = __builtin_LINE()) {
  return kiln_emu_abi->barrier(kKilnEmuSyncThreadsAnd, p, line);
}
KILN_EMU_UNCHECKED inline int __syncthreads_count(int p, int line = __builtin_LINE()) {
  return kiln_emu_abi->barrier(kKilnEmuSyncThreadsCount, p, line);
}
KILN_EMU_UNCHECKED inline void __syncwarp(unsigned mask = 0xffffffffu, int line = __builtin_LINE()) {
  kiln_emu_abi->warp(kKilnEmuSyncWarp, mask, 0, 0, 32, line);
}
KILN_EMU_UNCHECKED inline unsigned __ballot_sync(unsigned mask, int p, int line = __builtin_LINE()) {
  return static_cast<unsigned>(kiln_emu_abi->warp(kKilnEmuBallot, mask, p != 0, 0, 32, line));
}

template <typename T>
KILN_EMU_UNCHECKED inline T kiln_emu_shuffle(int op, unsigned mask, T value, int arg, int width, int line) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "shuffles move 32 or 64 bits");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = kiln_emu_abi->warp(op, mask, bits, arg, width, line);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int lane, int width = 32, int line = __builtin_LINE()) {
  return kiln_emu_shuffle(kKilnEmuShflIdx, mask, v, lane, width, line);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32,
                        int line = __builtin_LINE()) {
  return kiln_emu_shuffle(kKilnEmuShflUp, mask, v, static_cast<int>(d), width, line);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32,
                          int line = __builtin_LINE()) {
  return kiln_emu_shuffle(kKilnEmuShflDown, mask, v, static_cast<int>(d), width, line);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32,
                         int line = __builtin_LINE()) {
  return kiln_emu_shuffle(kKilnEmuShflXor, mask, v, lane_mask, width, line);
}

// ---- Atomics ----------------------------------------------------------------
// Threads switch only at rendezvous, so a read-modify-write is atomic; it is
// checked for bounds and alignment and kept out of the race bookkeeping.
#define KILN_EMU_ATOMIC(name, expr)                                               \
  template <typename T>                                                           \
  KILN_EMU_UNCHECKED inline T name(T* address, T value, int line = __builtin_LINE()) { \
    kiln_emu_abi->checked_access(address, sizeof(T), sizeof(T), 1, line, #name);  \
    const T old = *address;                                                       \
    *address = (expr);                                                            \
    return old;                                                                   \
  }
KILN_EMU_ATOMIC(atomicAdd, old + value)
KILN_EMU_ATOMIC(atomicSub, old - value)
KILN_EMU_ATOMIC(atomicMin, value < old ? value : old)
KILN_EMU_ATOMIC(atomicMax, old < value ? value : old)
KILN_EMU_ATOMIC(atomicExch, value)
KILN_EMU_ATOMIC(atomicAnd, old & value)
KILN_EMU_ATOMIC(atomicOr, old | value)
#undef KILN_EMU_ATOMIC

// ---- Inline-PTX patterns (codegen/cuda_ptx.h) --------------------------------
KILN_EMU_UNCHECKED inline float kiln_emu_cvt_f32_f16(unsigned short h) {
  return kiln_emu_abi->cvt_f32_f16(h);
}
KILN_EMU_UNCHECKED inline unsigned short kiln_emu_cvt_rn_f16_f32(float f) {
  return kiln_emu_abi->cvt_rn_f16_f32(f);
}
KILN_EMU_UNCHECKED inline unsigned short kiln_emu_cvt_rn_bf16_f32(float f) {
  return kiln_emu_abi->cvt_rn_bf16_f32(f);
}
#define KILN_PTX_CVT_F32_F16(f, h) ((f) = kiln_emu_cvt_f32_f16(h))
#define KILN_PTX_CVT_RN_F16_F32(h, f) ((h) = kiln_emu_cvt_rn_f16_f32(f))
#define KILN_PTX_CVT_RN_BF16_F32(h, f) ((h) = kiln_emu_cvt_rn_bf16_f32(f))

// ld.global[qual].{v4.u32, v2.u32, u32, u16}: `words` 32-bit (or one 16-bit)
// values from `p`, which PTX requires aligned to the whole vector.
template <typename Word, int kWords>
KILN_EMU_UNCHECKED inline void kiln_emu_ld_global(const void* p, Word* words, int line,
                                                   const char* what) {
  kiln_emu_abi->checked_access(p, sizeof(Word) * kWords, sizeof(Word) * kWords, 0, line, what);
  std::memcpy(words, p, sizeof(Word) * kWords);
}
#define KILN_PTX_LD_GLOBAL_V4_U32(qual, w, p) \
  kiln_emu_ld_global<unsigned, 4>((p), (w), __LINE__, "ld.global" qual ".v4.u32")
#define KILN_PTX_LD_GLOBAL_V2_U32(qual, w, p) \
  kiln_emu_ld_global<unsigned, 2>((p), (w), __LINE__, "ld.global" qual ".v2.u32")
#define KILN_PTX_LD_GLOBAL_U32(qual, w, p) \
  kiln_emu_ld_global<unsigned, 1>((p), (w), __LINE__, "ld.global" qual ".u32")
#define KILN_PTX_LD_GLOBAL_U16(qual, h, p) \
  kiln_emu_ld_global<unsigned short, 1>((p), &(h), __LINE__, "ld.global" qual ".u16")

KILN_EMU_UNCHECKED inline void* kiln_emu_dynamic_shared() { return kiln_emu_abi->dynamic_shared(); }
#define KILN_DYNAMIC_SHARED(type, name) \
  type* const name = static_cast<type*>(kiln_emu_dynamic_shared())

// ---- Kernel entry points ------------------------------------------------------
// KILN_EMU_EXPORT(k), appended after the source by kernel_module.cc for each
// kernel it defines, exports kiln_emu_launch_k(args), which calls k with
// the values args[i] point to (cudaLaunchKernel's convention), and
// kiln_emu_params_k, the parameter count followed by each one's size.
// Uninstrumented: `args` is the launcher's memory, not the kernel's.
template <typename... Params, size_t... I>
KILN_EMU_UNCHECKED inline void kiln_emu_call(void (*kernel)(Params...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_reference_t<Params>*>(args[I])...);
}
template <typename... Params>
KILN_EMU_UNCHECKED inline void kiln_emu_launch(void (*kernel)(Params...), void** args) {
  kiln_emu_call(kernel, args, std::index_sequence_for<Params...>{});
}
template <typename... Params>
constexpr size_t kiln_emu_param_sizes_of(void (*)(Params...), size_t i) {
  constexpr size_t sizes[] = {sizeof...(Params), sizeof(Params)..., 0};
  return sizes[i];
}
#define KILN_EMU_EXPORT(kernel)                                                         \
  extern "C" __attribute__((visibility("default"))) void kiln_emu_launch_##kernel(      \
      void** args) {                                                                    \
    kiln_emu_launch(&kernel, args);                                                     \
  }                                                                                     \
  extern "C" __attribute__((visibility("default"))) size_t kiln_emu_params_##kernel(    \
      size_t i) {                                                                       \
    return kiln_emu_param_sizes_of(&kernel, i);                                         \
  }

#endif  // KILN_RUNTIME_EMULATOR_KERNEL_PRELUDE_H_
