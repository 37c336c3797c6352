// The CUDA toolkit repository (@local_cuda) links cudart without the driver
// library: a binary using it starts on a machine with no NVIDIA driver and
// gets an error code from cudart, not a loader failure.
#include <cuda_runtime_api.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace kiln {
namespace {

bool DriverLibraryMapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/libcuda.so") != std::string::npos) return true;
  }
  return false;
}

TEST(CudaToolkitTest, DriverIsNotLinkedAndItsAbsenceIsAnErrorCode) {
  // Linked libraries are mapped before main; libcuda must not be one.
  EXPECT_FALSE(DriverLibraryMapped());
  int devices = -1;
  cudaError_t status = cudaGetDeviceCount(&devices);
  if (status == cudaSuccess) {
    std::printf("CUDA devices: %d\n", devices);
  } else {
    std::printf("no CUDA device: %s\n", cudaGetErrorString(status));
    EXPECT_TRUE(status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver)
        << cudaGetErrorName(status);
  }
}

}  // namespace
}  // namespace kiln
