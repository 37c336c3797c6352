// cuBLASLt loaded at first use (runtime/cuda/cublaslt_lazy.cc), on a machine
// without a GPU: the forwarding functions reach the toolkit's library
// (version, status strings, host-side descriptors), and with
// KILN_CUBLASLT_LIBRARY naming a missing file (the _missing variant of this
// test) every call fails cleanly and says why.
#include <cublasLt.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace {

bool ExpectLoaded() {
  const char* name = std::getenv("KILN_CUBLASLT_LIBRARY");
  return name == nullptr || std::string(name).find("missing") == std::string::npos;
}

TEST(CublasLtLazy, ForwardsToTheLibraryOrFailsCleanly) {
  if (ExpectLoaded()) {
    // Version MMmmpp: the major the headers were built against.
    EXPECT_EQ(cublasLtGetVersion() / 10000, CUBLAS_VER_MAJOR);
    EXPECT_STREQ(cublasLtGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED),
                 "the requested functionality is not supported");
    // Descriptors are host objects: they need no device.
    cublasLtMatmulDesc_t desc = nullptr;
    ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
              CUBLAS_STATUS_SUCCESS);
    const cublasOperation_t transpose = CUBLAS_OP_T;
    EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                             sizeof(transpose)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulDescDestroy(desc), CUBLAS_STATUS_SUCCESS);
    cublasLtMatrixLayout_t layout = nullptr;
    ASSERT_EQ(cublasLtMatrixLayoutCreate(&layout, CUDA_R_16BF, 7, 13, 16), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutDestroy(layout), CUBLAS_STATUS_SUCCESS);
  } else {
    EXPECT_EQ(cublasLtGetVersion(), 0u);
    cublasLtHandle_t handle = nullptr;
    EXPECT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_NOT_INITIALIZED);
    const std::string why = cublasLtGetStatusString(CUBLAS_STATUS_NOT_INITIALIZED);
    EXPECT_NE(why.find("cuBLASLt could not be loaded"), std::string::npos) << why;
    EXPECT_NE(why.find("missing"), std::string::npos) << why;
  }
}

}  // namespace
