// The inline-PTX patterns Kiln's CUDA sources use, one macro each, defined
// at the top of every translation unit codegen renders.
//
// NVRTC compiles the asm statements below. The CUDA emulator
// (runtime/emulator/kernel_prelude.h) compiles the same text with the host
// compiler after defining KILN_EMULATED and its own rendering of each macro,
// so the bytes NVRTC sees are the bytes the emulator runs; an asm statement
// written outside these macros has no host rendering and stops the
// emulator's compile. Adding a pattern means adding it here and there.
//   KILN_PTX_CVT_F32_F16(f, h)        f = h widened (exact)
//   KILN_PTX_CVT_RN_F16_F32(h, f)     h = f rounded to nearest even
//   KILN_PTX_CVT_RN_BF16_F32(h, f)    h = f rounded to nearest even
//   KILN_PTX_LD_GLOBAL_{V4,V2}_U32, _U32, _U16 (qual, dst, p): one load of
//     4/2/1 32-bit words (or one 16-bit word) from p, aligned to the whole
//     vector; qual is a string of cache qualifiers (".nc", ...)
//   KILN_DYNAMIC_SHARED(type, name)   the launch's dynamic shared memory
#ifndef KILN_CODEGEN_CUDA_PTX_H_
#define KILN_CODEGEN_CUDA_PTX_H_

namespace kiln::codegen {

inline constexpr char kCudaPtxPatterns[] = R"(#ifndef KILN_EMULATED
#define KILN_PTX_CVT_F32_F16(f, h) asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h))
#define KILN_PTX_CVT_RN_F16_F32(h, f) asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f))
#define KILN_PTX_CVT_RN_BF16_F32(h, f) asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f))
#define KILN_PTX_LD_GLOBAL_V4_U32(qual, w, p)                     \
  asm("ld.global" qual ".v4.u32 {%0, %1, %2, %3}, [%4];"          \
      : "=r"((w)[0]), "=r"((w)[1]), "=r"((w)[2]), "=r"((w)[3]) \
      : "l"(p))
#define KILN_PTX_LD_GLOBAL_V2_U32(qual, w, p) \
  asm("ld.global" qual ".v2.u32 {%0, %1}, [%2];" : "=r"((w)[0]), "=r"((w)[1]) : "l"(p))
#define KILN_PTX_LD_GLOBAL_U32(qual, w, p) \
  asm("ld.global" qual ".u32 %0, [%1];" : "=r"((w)[0]) : "l"(p))
#define KILN_PTX_LD_GLOBAL_U16(qual, h, p) asm("ld.global" qual ".u16 %0, [%1];" : "=h"(h) : "l"(p))
#define KILN_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
)";

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_CUDA_PTX_H_
