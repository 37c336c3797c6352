// The generated CUDA source of every fixture suite against the committed
// snapshot in tests/codegen/snapshots/<suite>.cu: a refactor must reproduce
// the kernels byte for byte, and an intended change updates the snapshot
// (the command is in the failure message) and shows up in review as a diff.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/model_kernels.h"
#include "gtest/gtest.h"

namespace kiln::codegen {
namespace {

constexpr char kUpdate[] =
    "bazel run //tests/codegen:gen_kernels -- --fixtures=$PWD/tests/fixtures/models "
    "--snapshot_dir=$PWD/tests/codegen/snapshots";

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `diff -u` of the two texts (written to the test's temporary directory).
std::string Diff(const std::string& name, const std::string& want, const std::string& got) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp ? tmp : "/tmp";
  const std::string a = dir + "/" + name + ".snapshot.cu", b = dir + "/" + name + ".generated.cu";
  std::ofstream(a, std::ios::binary) << want;
  std::ofstream(b, std::ios::binary) << got;
  std::string out;
  if (FILE* p = popen(("diff -u " + a + " " + b + " | head -150").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

void CheckSuite(const absl::StatusOr<KernelSuite>& suite) {
  ASSERT_TRUE(suite.ok()) << suite.status();
  absl::StatusOr<std::string> got = SuiteCudaSource(*suite);
  ASSERT_TRUE(got.ok()) << got.status();
  const std::string path = "tests/codegen/snapshots/" + suite->name + ".cu";
  const std::string want = Read(path);
  EXPECT_TRUE(want == *got) << path << " differs from the generated kernels"
                            << (want.empty() ? " (no snapshot committed)" : "") << ":\n"
                            << Diff(suite->name, want, *got)
                            << "\nIf the change is intended, update the snapshot:\n  " << kUpdate;
}

TEST(SnapshotTest, FixtureKernelsMatchTheCommittedSnapshot) {
  for (const FixtureModel& m : FixtureModels()) {
    CheckSuite(ModelKernels(m.name, "tests/fixtures/models/" + m.subdir, m.dtype, A100Target()));
  }
}

TEST(SnapshotTest, OddSizeKernelsMatchTheCommittedSnapshot) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    CheckSuite(OddSizeKernels(dtype, A100Target()));
  }
}

}  // namespace
}  // namespace kiln::codegen
