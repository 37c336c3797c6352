// The launch-plan test models (tests/fixtures/plan_models) for the tests of
// runtime/cuda: their configs, seeded random weights, and checkpoints
// written from them for the command-line tools.
#ifndef KILN_TESTS_RUNTIME_CUDA_PLAN_MODELS_H_
#define KILN_TESTS_RUNTIME_CUDA_PLAN_MODELS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "ir/module.h"
#include "runtime/reference/executor.h"

namespace kiln::testing {

// The config.json text of a plan model family ("llama3", "opt", ...).
std::string PlanModelConfig(const std::string& family);

// Uniform weights for every weight `m` declares: matrices in ±0.1 (so
// activations stay O(1)), vectors in [0.5, 1.5] (norm scales; Gemma adds 1
// anyway). The same seed gives the same weights.
WeightMap RandomWeights(const Module& m, uint32_t seed);

// Writes `dir`/config.json and `dir`/model.safetensors (f32 random weights
// of the family's model): a checkpoint compile-model reads.
absl::Status WriteRandomCheckpoint(const std::string& family, uint32_t seed,
                                   const std::string& dir);

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CUDA_PLAN_MODELS_H_
