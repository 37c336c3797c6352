// The cuBLASLt algorithm of every GEMM shape of an engine, chosen at
// compile time by measuring on the GPU compile-model ran on, and recorded in
// the engine (kernel.gemm_algos.json) so that loading does not depend on
// cuBLASLt's heuristic or on timing noise at load.
//
// A cublasLtMatmulAlgo_t is opaque, but it is fully described by its
// algorithm id and its configuration attributes
// (cublasLtMatmulAlgoConfigAttributes_t): cublasLtMatmulAlgoInit(id) and
// setting each attribute rebuilds it, and cublasLtMatmulAlgoCheck says
// whether the rebuilt one runs. A record applies only where it was measured:
// the same device name, architecture and cuBLASLt version; anywhere else,
// or when compile-model had no GPU of the target's architecture, the loader
// asks the heuristic, as it says in its report.
//
// This file is plain data (no CUDA, no plans): gemm_shapes.h lists a
// plan's shapes, the tuner (gemm_tuner.h) fills the record, cuda_gemm.h
// rebuilds algorithms from it.
#ifndef KILN_CODEGEN_PLAN_GEMM_CHOICES_H_
#define KILN_CODEGEN_PLAN_GEMM_CHOICES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/dtype.h"

namespace kiln {

inline constexpr char kGemmChoicesFile[] = "kernel.gemm_algos.json";

// What an algorithm is chosen for: out[m, n] = x[m, k] . w[n, k]^T (+ bias).
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::kF32;
  bool bias = false;

  std::string Key() const;  // "m1 n2048 k8192 bf16 +bias"
  friend bool operator==(const GemmShape&, const GemmShape&) = default;
};

// A cuBLASLt algorithm by its id and configuration attributes (the types
// are cublasLt.h's for each attribute).
struct LtAlgoConfig {
  int32_t algo_id = -1;
  uint32_t tile = 0;
  int32_t split_k = 1;
  uint32_t reduction_scheme = 0;
  uint32_t swizzle = 0;
  uint32_t custom_option = 0;
  uint32_t stages = 0;
  uint16_t inner_shape = 0;
  uint16_t cluster_shape = 0;

  friend bool operator==(const LtAlgoConfig&, const LtAlgoConfig&) = default;
};

// The measured choice for one shape.
struct GemmChoice {
  GemmShape shape;
  LtAlgoConfig algo;
  int64_t workspace_bytes = 0;
  int candidates = 0;       // algorithms timed
  double best_us = 0;       // the chosen one, mean of the timed runs
  double heuristic_us = 0;  // the heuristic's first choice, the same way; 0 if it failed
};

struct GemmChoices {
  bool tuned = false;
  std::string reason;  // why not, when !tuned
  std::string device;  // cudaDeviceProp::name, when tuned
  std::string arch;    // the engine's target, "sm_90"
  int64_t cublaslt_version = 0;
  std::vector<GemmShape> shapes;    // every shape of the plans
  std::vector<GemmChoice> choices;  // when tuned: one per shape

  // The choice for `shape`, or nullptr.
  const GemmChoice* Find(const GemmShape& shape) const;
};

std::string GemmChoicesJson(const GemmChoices& choices);
// DataLoss naming the problem when `text` is not such a record.
absl::StatusOr<GemmChoices> ParseGemmChoices(const std::string& text);

// OK when `choices` were measured on this device (`device` name, `arch`)
// with this cuBLASLt; FailedPrecondition saying what differs otherwise.
absl::Status ChoicesApplyHere(const GemmChoices& choices, const std::string& device,
                              const std::string& arch, int64_t cublaslt_version);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_GEMM_CHOICES_H_
