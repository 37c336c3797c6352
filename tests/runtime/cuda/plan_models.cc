#include "tests/runtime/cuda/plan_models.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "base/status_macros.h"
#include "models/config_reader.h"
#include "models/registry.h"
#include "models/safetensors_writer.h"

namespace kiln::testing {

std::string PlanModelConfig(const std::string& family) {
  std::ifstream in("tests/fixtures/plan_models/" + family + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

WeightMap RandomWeights(const Module& m, uint32_t seed) {
  std::mt19937 rng(seed);
  WeightMap weights;
  for (const WeightDecl& w : m.weights) {
    const bool vector = w.type.shape.size() == 1;
    std::uniform_real_distribution<float> dist(vector ? 0.5f : -0.1f, vector ? 1.5f : 0.1f);
    std::vector<int64_t> shape;
    for (const Dim& d : w.type.shape) shape.push_back(d.size);
    std::vector<float> values(static_cast<size_t>(NumElements(shape)));
    for (float& v : values) v = dist(rng);
    weights[w.name] = HostTensor::FromFloats(w.type.dtype, shape, std::move(values));
  }
  return weights;
}

absl::Status WriteRandomCheckpoint(const std::string& family, uint32_t seed,
                                   const std::string& dir) {
  const std::string config = PlanModelConfig(family);
  KILN_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::Parse(config));
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModel(reader, BuildOptions{DType::kF32, std::nullopt}));
  const WeightMap weights = RandomWeights(model.module, seed);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config;
  std::vector<std::vector<uint8_t>> storage;
  storage.reserve(weights.size());
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, t] : weights) {
    storage.emplace_back(t.floats.size() * 4);
    std::memcpy(storage.back().data(), t.floats.data(), storage.back().size());
    tensors.push_back({name, DType::kF32, t.shape, storage.back()});
  }
  return WriteSafetensors(dir + "/model.safetensors", std::move(tensors));
}

}  // namespace kiln::testing
