#include "runtime/generate/device_sampling.h"

namespace kiln {

codegen::sampling::SampleParams DeviceSampleParams(const GenerationConfig& config, uint64_t step) {
  return {.temperature = config.temperature,
          .top_p = config.top_p,
          .min_p = config.min_p,
          .seed = config.seed,
          .counter = step,
          .top_k = config.top_k,
          .greedy = config.do_sample ? 0 : 1};
}

bool SamplesOnDevice(const GenerationConfig& config) {
  return config.repetition_penalty == 1.0 &&
         (!config.do_sample || config.temperature <= codegen::sampling::kMaxKernelTemperature);
}

}  // namespace kiln
