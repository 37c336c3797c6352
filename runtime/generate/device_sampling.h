// A generate request's sampling settings as the on-device sampler takes them
// (codegen/sampling/sampling_params.h SampleParams), and whether it can.
#ifndef KILN_RUNTIME_GENERATE_DEVICE_SAMPLING_H_
#define KILN_RUNTIME_GENERATE_DEVICE_SAMPLING_H_

#include <cstdint>

#include "codegen/sampling/sampling_params.h"
#include "runtime/generate/generation_config.h"

namespace kiln {

// The parameters of draw `step` (SampleToken's `step`) under `config`.
codegen::sampling::SampleParams DeviceSampleParams(const GenerationConfig& config, uint64_t step);

// True when the device sampler draws what SampleToken draws for `config`:
// no repetition penalty (the kernel never sees the history) and a
// temperature within the kernel's bound.
bool SamplesOnDevice(const GenerationConfig& config);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_DEVICE_SAMPLING_H_
