// What the benchmark measures besides the engine itself: statistics over
// repeated timings, this machine's memory copy bandwidth and peak memory,
// and the facts a result needs to be compared later (CPU, cores, date).
#ifndef KILN_TOOLS_BENCH_MEASURE_H_
#define KILN_TOOLS_BENCH_MEASURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace kiln::bench {

// Nearest-rank percentile (q in [0, 100]) of `values`: the smallest value
// with at least q % of the values at or below it, so p50 <= p90 <= p99 and
// every percentile is a measured value. 0 for an empty list.
double Percentile(std::vector<double> values, double q);

// {"median", "min", "max", "mean", "stdev", "n"} of `values`; the median of
// an even count is the mean of the middle two. Nulls for an empty list.
nlohmann::json Spread(const std::vector<double>& values);

// Host-to-host copy bandwidth in GB/s (1e9 bytes), counted as gpu-probe and
// STREAM's "Copy" count it: bytes read plus bytes written per second. The
// best of `repeats` memcpy calls of `bytes` (far larger than the caches),
// after one untimed copy that faults the pages in.
double MeasureCopyBandwidthGBps(size_t bytes, int repeats);

// Peak resident set of this process (VmHWM of /proc/self/status), bytes.
int64_t PeakRssBytes();

// {"cpu": model name, "cores": online CPUs, "memory_gib", "os": uname,
// "loadavg": [1, 5, 15 min]}. The load average shows whether other work
// shared the machine during the run (taken when the result is written).
nlohmann::json MachineInfo();

// The current UTC time as "2026-11-27T17:10:00Z".
std::string UtcNow();

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_MEASURE_H_
