#include "codegen/gemv/gemv_cuda.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "codegen/cuda_ptx.h"

namespace kiln::codegen::gemv {
namespace {

// f32: elements are floats; a 4-byte word is one element.
constexpr char kF32Io[] = R"cuda(
typedef float kiln_io_t;
__device__ __forceinline__ float kiln_to_f32(float x) { return x; }
__device__ __forceinline__ float kiln_from_f32(float x) { return x; }
template <int kWords>
__device__ __forceinline__ void kiln_unpack(const unsigned (&words)[kWords], float (&v)[kVec]) {
#pragma unroll
  for (int i = 0; i < kWords; ++i) v[i] = __uint_as_float(words[i]);
}
)cuda";

// f16 / bf16 travel as their bits; widening f16 is a cvt, bf16 a shift
// (both exact); narrowing is cvt.rn ($HALF: F16 or BF16), round to nearest even as
// base/half.h. A 4-byte word holds two elements, the lower address in
// the low half.
constexpr char kF16ToF32[] = R"cuda(
__device__ __forceinline__ float kiln_to_f32(unsigned short h) {
  float f;
  KILN_PTX_CVT_F32_F16(f, h);
  return f;
}
)cuda";

constexpr char kBF16ToF32[] = R"cuda(
__device__ __forceinline__ float kiln_to_f32(unsigned short h) {
  return __uint_as_float(static_cast<unsigned>(h) << 16);
}
)cuda";

constexpr char kHalfIo[] = R"cuda(
__device__ __forceinline__ unsigned short kiln_from_f32(float f) {
  unsigned short h;
  KILN_PTX_CVT_RN_$HALF_F32(h, f);
  return h;
}
template <int kWords>
__device__ __forceinline__ void kiln_unpack(const unsigned (&words)[kWords], float (&v)[kVec]) {
#pragma unroll
  for (int i = 0; i < kWords; ++i) {
    v[2 * i] = kiln_to_f32(static_cast<unsigned short>(words[i] & 0xffffu));
    v[2 * i + 1] = kiln_to_f32(static_cast<unsigned short>(words[i] >> 16));
  }
}
)cuda";

// One vector of kVec elements (kVecBytes: 16, 8, 4 or 2 bytes), widened to
// f32. $NAME / $QUAL: weights stream past L1 (.nc.L1::no_allocate: read
// once), x goes through the read-only L1 path (.nc: reused by every warp).
constexpr char kLoad[] = R"cuda(
__device__ __forceinline__ void $NAME(const kiln_io_t* p, float (&v)[kVec]) {
  if constexpr (kVecBytes == 16) {
    unsigned w[4];
    KILN_PTX_LD_GLOBAL_V4_U32("$QUAL", w, p);
    kiln_unpack<4>(w, v);
  } else if constexpr (kVecBytes == 8) {
    unsigned w[2];
    KILN_PTX_LD_GLOBAL_V2_U32("$QUAL", w, p);
    kiln_unpack<2>(w, v);
  } else if constexpr (kVecBytes == 4) {
    unsigned w[1];
    KILN_PTX_LD_GLOBAL_U32("$QUAL", w, p);
    kiln_unpack<1>(w, v);
  } else {
    unsigned short h;
    KILN_PTX_LD_GLOBAL_U16("$QUAL", h, p);
    v[0] = kiln_to_f32(h);
  }
}
)cuda";

// The kernel (see gemv_cuda.h for the contract). Plan:
//   1. with kXInShared, the block widens x[rows, K] into shared memory;
//   2. warp w of block b owns columns j0 .. j0 + kColsPerWarp - 1,
//      j0 = (b * kWarps + w) * kColsPerWarp; columns past n load row n - 1
//      (a valid address) and store nothing;
//   3. lane l walks chunks l, l + 32, ... of kVec elements: one load per
//      column, then per row the x chunk and kVec fmaf per column;
//   4. per (row, column) the xor butterfly sums the 32 lane partials, so
//      every lane holds the total; lane r * kColsPerWarp + c adds the bias
//      and stores (row r, column c) rounded to the dtype.
constexpr char kKernel[] = R"cuda(
constexpr int kThreads = kWarps * 32;
constexpr int kChunks = kK / kVec;
constexpr int kXSharedFloats = kXInShared ? kMaxRows * kK : 4;
static_assert(kK % kVec == 0, "vec divides K");
static_assert(kMaxRows * kColsPerWarp <= 32, "one storing lane per (row, column)");

extern "C" __global__ void __launch_bounds__(kThreads, kMinBlocks)
$KERNEL(const kiln_io_t* __restrict__ x, const kiln_io_t* __restrict__ w,
        const kiln_io_t* __restrict__ bias, kiln_io_t* __restrict__ out, int n, int rows) {
  __shared__ __align__(16) float xs[kXSharedFloats];
  rows = min(rows, kMaxRows);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if constexpr (kXInShared) {
    for (int i = threadIdx.x; i < rows * kK; i += kThreads) xs[i] = kiln_to_f32(x[i]);
    __syncthreads();
  }
  const int j0 = (blockIdx.x * kWarps + warp) * kColsPerWarp;
  if (j0 >= n) return;  // warp-uniform, after the block's only barrier

  const kiln_io_t* wrow[kColsPerWarp];
#pragma unroll
  for (int c = 0; c < kColsPerWarp; ++c) {
    wrow[c] = w + static_cast<long long>(min(j0 + c, n - 1)) * kK;
  }
  float acc[kMaxRows][kColsPerWarp];
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
#pragma unroll
    for (int c = 0; c < kColsPerWarp; ++c) acc[r][c] = 0.f;
  }

#pragma unroll 2
  for (int chunk = lane; chunk < kChunks; chunk += 32) {
    float wv[kColsPerWarp][kVec];
#pragma unroll
    for (int c = 0; c < kColsPerWarp; ++c) kiln_load_w(wrow[c] + chunk * kVec, wv[c]);
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) {
      if (r >= rows) break;  // warp-uniform
      float xv[kVec];
      if constexpr (kXInShared) {
        const float* xp = xs + r * kK + chunk * kVec;
        if constexpr (kVec % 4 == 0) {
#pragma unroll
          for (int e = 0; e < kVec; e += 4) {
            const float4 q = *reinterpret_cast<const float4*>(xp + e);
            xv[e] = q.x;
            xv[e + 1] = q.y;
            xv[e + 2] = q.z;
            xv[e + 3] = q.w;
          }
        } else if constexpr (kVec == 2) {
          const float2 q = *reinterpret_cast<const float2*>(xp);
          xv[0] = q.x;
          xv[1] = q.y;
        } else {
          xv[0] = xp[0];
        }
      } else {
        kiln_load_x(x + static_cast<long long>(r) * kK + chunk * kVec, xv);
      }
#pragma unroll
      for (int c = 0; c < kColsPerWarp; ++c) {
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[r][c] = fmaf(xv[e], wv[c][e], acc[r][c]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    if (r >= rows) break;
#pragma unroll
    for (int c = 0; c < kColsPerWarp; ++c) {
      float s = acc[r][c];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, o));
      const int j = j0 + c;
      if (lane == r * kColsPerWarp + c && j < n) {
        if (bias != nullptr) s = __fadd_rn(s, kiln_to_f32(bias[j]));
        out[static_cast<long long>(r) * n + j] = kiln_from_f32(s);
      }
    }
  }
}
)cuda";

std::string Io(DType dtype) {
  if (dtype == DType::kF32) return kF32Io;
  const bool f16 = dtype == DType::kF16;
  return absl::StrCat("typedef unsigned short kiln_io_t;\n", f16 ? kF16ToF32 : kBF16ToF32,
                      absl::StrReplaceAll(kHalfIo, {{"$HALF", f16 ? "F16" : "BF16"}}));
}

}  // namespace

absl::StatusOr<std::string> RenderGemvCuda(const GemvVariant& variant) {
  if (absl::Status valid = ValidateGemvShape(variant.shape); !valid.ok()) return valid;
  const GemvShape& s = variant.shape;
  const GemvTiles& t = variant.tiles;
  if (t.vec != VecElements(s.k, s.dtype) || t.warps < 1 || t.warps * 32 > 1024 ||
      t.cols_per_warp < 1 || s.max_rows * t.cols_per_warp > 32 || t.min_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat("gemv tiles do not fit ", GemvKernelName(variant)));
  }
  const int elem_bytes = s.dtype == DType::kF32 ? 4 : 2;
  std::string src = absl::StrCat(
      "// Kiln GEMV (matmul_nt, few rows): ", GemvKernelName(variant),
      "\n// Generated by codegen/gemv/gemv_cuda.cc; semantics in gemv_cuda.h.\n",
      kCudaPtxPatterns, "constexpr int kK = ", s.k, ";\n", "constexpr int kMaxRows = ", s.max_rows, ";\n",
      "constexpr int kVec = ", t.vec, ";\n", "constexpr int kVecBytes = ", t.vec * elem_bytes,
      ";\n", "constexpr int kWarps = ", t.warps, ";\n", "constexpr int kColsPerWarp = ",
      t.cols_per_warp, ";\n", "constexpr int kMinBlocks = ", t.min_blocks, ";\n",
      "constexpr bool kXInShared = ", t.x_in_shared ? "true" : "false", ";\n", Io(s.dtype),
      absl::StrReplaceAll(kLoad, {{"$NAME", "kiln_load_w"}, {"$QUAL", ".nc.L1::no_allocate"}}),
      absl::StrReplaceAll(kLoad, {{"$NAME", "kiln_load_x"}, {"$QUAL", ".nc"}}),
      absl::StrReplaceAll(kKernel, {{"$KERNEL", GemvKernelName(variant)}}));
  return src;
}

}  // namespace kiln::codegen::gemv
