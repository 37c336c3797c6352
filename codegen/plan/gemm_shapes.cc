#include "codegen/plan/gemm_shapes.h"

#include <algorithm>
#include <variant>

namespace kiln {

GemmShape ShapeOf(const GemmStep& step) {
  return {.m = step.m, .n = step.n, .k = step.k, .dtype = step.dtype, .bias = step.bias.bytes > 0};
}

std::vector<GemmShape> DistinctGemmShapes(const std::vector<LaunchPlan>& plans) {
  std::vector<GemmShape> shapes;
  for (const LaunchPlan& plan : plans) {
    for (const LaunchStep& step : plan.steps) {
      const auto* g = std::get_if<GemmStep>(&step.op);
      if (g == nullptr) continue;
      const GemmShape s = ShapeOf(*g);
      if (std::find(shapes.begin(), shapes.end(), s) == shapes.end()) shapes.push_back(s);
    }
  }
  return shapes;
}

GemmChoices UntunedGemmChoices(const std::vector<LaunchPlan>& plans, const std::string& arch,
                               const std::string& reason) {
  GemmChoices c;
  c.reason = reason;
  c.arch = arch;
  c.shapes = DistinctGemmShapes(plans);
  return c;
}

}  // namespace kiln
