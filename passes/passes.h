// Factories of the individual passes (one .cc file each), for the registry.
#ifndef KILN_PASSES_PASSES_H_
#define KILN_PASSES_PASSES_H_

#include "passes/pass.h"

namespace kiln {

absl::StatusOr<std::unique_ptr<Pass>> CreateDeadCodeElimination(const PassOptions& options);
absl::StatusOr<std::unique_ptr<Pass>> CreateCommonSubexpressionElimination(
    const PassOptions& options);
absl::StatusOr<std::unique_ptr<Pass>> CreateSpecializeShapes(const PassOptions& options);
absl::StatusOr<std::unique_ptr<Pass>> CreateFuseAttention(const PassOptions& options);
absl::StatusOr<std::unique_ptr<Pass>> CreateFuseMlp(const PassOptions& options);
absl::StatusOr<std::unique_ptr<Pass>> CreateFuseNormResidual(const PassOptions& options);
absl::StatusOr<std::unique_ptr<Pass>> CreatePlanMemory(const PassOptions& options);

}  // namespace kiln

#endif  // KILN_PASSES_PASSES_H_
