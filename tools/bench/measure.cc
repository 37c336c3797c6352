#include "tools/bench/measure.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <numeric>

namespace kiln::bench {

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank: ceil(q/100 * n), at least 1.
  double rank = std::ceil(q / 100.0 * static_cast<double>(values.size()));
  size_t index = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return values[std::min(index, values.size() - 1)];
}

nlohmann::json Spread(const std::vector<double>& values) {
  nlohmann::json out = {{"n", values.size()}};
  if (values.empty()) {
    for (const char* key : {"median", "min", "max", "mean", "stdev"}) out[key] = nullptr;
    return out;
  }
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);
  double squares = 0;
  for (double v : sorted) squares += (v - mean) * (v - mean);
  // Sample standard deviation (n - 1): the reps are a sample of the runs.
  double stdev = n > 1 ? std::sqrt(squares / static_cast<double>(n - 1)) : 0.0;
  out["median"] = median;
  out["min"] = sorted.front();
  out["max"] = sorted.back();
  out["mean"] = mean;
  out["stdev"] = stdev;
  return out;
}

double MeasureCopyBandwidthGBps(size_t bytes, int repeats) {
  std::unique_ptr<char[]> src(new char[bytes]);
  std::unique_ptr<char[]> dst(new char[bytes]);
  std::memset(src.get(), 1, bytes);
  std::memcpy(dst.get(), src.get(), bytes);  // fault in dst's pages
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    std::memcpy(dst.get(), src.get(), bytes);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, s);
    src[i % bytes] = dst[(i * 7919) % bytes];  // keep the copies observable
  }
  return 2.0 * static_cast<double>(bytes) / best / 1e9;
}

int64_t PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return -1;
}

nlohmann::json MachineInfo() {
  std::string cpu = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) cpu = line.substr(colon + 2);
      break;
    }
  }
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  utsname uts{};
  uname(&uts);
  double load[3] = {-1, -1, -1};
  getloadavg(load, 3);
  return {{"cpu", cpu},
          {"loadavg", {load[0], load[1], load[2]}},
          {"cores", sysconf(_SC_NPROCESSORS_ONLN)},
          {"memory_gib", static_cast<double>(pages) * static_cast<double>(page) / (1 << 30)},
          {"os", std::string(uts.sysname) + " " + uts.release + " " + uts.machine}};
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace kiln::bench
