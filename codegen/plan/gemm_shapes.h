// The GEMM shapes of launch plans: what compile-model measures a cuBLASLt
// algorithm for (gemm_choices.h) and what the executor looks one up by.
#ifndef KILN_CODEGEN_PLAN_GEMM_SHAPES_H_
#define KILN_CODEGEN_PLAN_GEMM_SHAPES_H_

#include <string>
#include <vector>

#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

GemmShape ShapeOf(const GemmStep& step);

// Every distinct GEMM shape of `plans`, in first-use order.
std::vector<GemmShape> DistinctGemmShapes(const std::vector<LaunchPlan>& plans);

// The record of an engine compiled without measuring: its shapes, and why.
GemmChoices UntunedGemmChoices(const std::vector<LaunchPlan>& plans, const std::string& arch,
                               const std::string& reason);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_GEMM_SHAPES_H_
