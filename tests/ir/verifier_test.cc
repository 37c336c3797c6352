// Verifier: each malformed module is rejected with an error that names the
// function, the value and op, and the operand or attribute at fault.
#include "ir/verifier.h"

#include <string>

#include "gtest/gtest.h"
#include "ir/builder.h"
#include "ir/text.h"

namespace kiln {
namespace {

struct BadModule {
  const char* name;
  const char* body;   // the function body, inside func @f(...) { ... }
  const char* error;  // expected substring
};

constexpr char kSignature[] =
    "module @m {\n"
    "  weight \"w\" : f32[8,4]\n"
    "  func @f(%x: f32[batch,seq,4], %ids: i32[batch,seq], %pos: i32[batch,seq], "
    "%k: f32[batch,cache,2,2], %q: f32[batch,seq,4,2]) {\n";

class VerifierErrorTest : public testing::TestWithParam<BadModule> {};

TEST_P(VerifierErrorTest, NamesTheFault) {
  std::string text = std::string(kSignature) + GetParam().body + "\n  }\n}\n";
  absl::StatusOr<Module> module = ParseModule(text);
  ASSERT_FALSE(module.ok()) << "accepted:\n" << text;
  EXPECT_NE(std::string(module.status().message()).find(GetParam().error), std::string::npos)
      << module.status();
}

INSTANTIATE_TEST_SUITE_P(
    Modules, VerifierErrorTest,
    testing::Values(
        BadModule{"MatmulInnerDimMismatch",
                  "%w = constant() {weight=\"w\"} : f32[8,4]\n"
                  "%y = matmul_nt(%x, %w) : f32[batch,seq,8]\n"
                  "%z = matmul_nt(%y, %w) : f32[batch,seq,8]\nreturn %z",
                  "func @f: %z (matmul_nt): dim 2 of operand 0 (%y: f32[batch,seq,8]) must equal "
                  "dim 1 of operand 1 (%w: f32[8,4])"},
        BadModule{"DeclaredTypeWrong",
                  "%w = constant() {weight=\"w\"} : f32[8,4]\n"
                  "%y = matmul_nt(%x, %w) : f32[batch,seq,4]\nreturn %y",
                  "%y (matmul_nt): declared type f32[batch,seq,4] but the op produces "
                  "f32[batch,seq,8]"},
        BadModule{"DtypeMismatch", "%y = add(%x, %ids) : f32[batch,seq,4]\nreturn %y",
                  "%y (add): operand 1 (%ids: i32[batch,seq]) must have the dtype of operand 0"},
        BadModule{"FloatOpOnIntegers", "%y = silu(%ids) : i32[batch,seq]\nreturn %y",
                  "%y (silu): operand 0 (%ids: i32[batch,seq]) must be a float type"},
        BadModule{"MissingAttribute", "%y = rms_norm(%x, %x) : f32[batch,seq,4]\nreturn %y",
                  "%y (rms_norm): missing attribute 'eps'"},
        BadModule{"WrongOperandCount", "%y = relu(%x, %x) : f32[batch,seq,4]\nreturn %y",
                  "%y (relu): takes 1..1 operands, got 2"},
        BadModule{"UnknownWeight", "%w = constant() {weight=\"nope\"} : f32[8,4]\nreturn %w",
                  "%w (constant): no module weight named \"nope\""},
        BadModule{"ReshapeChangesCount", "%y = reshape(%x) : f32[batch,seq,2,3]\nreturn %y",
                  "%y (reshape): reshape from [batch,seq,4] to [batch,seq,2,3] changes the "
                  "element count"},
        BadModule{"ReshapeDropsSymbol", "%y = reshape(%x) : f32[batch,4]\nreturn %y",
                  "changes the element count"},
        BadModule{"BadPermutation", "%y = transpose(%x) {perm=[0,0,1]} : f32[batch,batch,seq]\n"
                  "return %y",
                  "%y (transpose): transpose perm must list every axis once"},
        BadModule{"SliceOutOfRange", "%y = slice(%x) {axis=2, start=2, end=9} : f32[batch,seq,7]\n"
                  "return %y",
                  "slice [2, 9) is out of range for dim 4"},
        BadModule{"AxisOutOfRange", "%y = softmax(%x) {axis=3} : f32[batch,seq,4]\nreturn %y",
                  "axis 3 is out of range for rank 3"},
        BadModule{"GqaNotDivisible",
                  "%a = slice(%q) {axis=2, start=0, end=3} : f32[batch,seq,3,2]\n"
                  "%y = attention(%a, %k, %k, %pos) {scale=1} : f32[batch,seq,3,2]\nreturn %y",
                  "query heads (dim 2 of operand 0) a multiple of KV heads"},
        BadModule{"RopeScalingUnknown",
                  "%y = rope(%q, %pos) {theta=10000, scaling=\"ntk\"} : f32[batch,seq,4,2]\n"
                  "return %y",
                  "unknown rope scaling 'ntk' (none, linear, llama3)"},
        BadModule{"RopeLlama3MissingAttrs",
                  "%y = rope(%q, %pos) {theta=10000, scaling=\"llama3\", factor=8} : "
                  "f32[batch,seq,4,2]\nreturn %y",
                  "rope scaling 'llama3' needs attribute 'low_freq_factor'"},
        BadModule{"CacheWriteShape",
                  "%y = kv_cache_write(%k, %q, %pos) : f32[batch,cache,2,2]\nreturn %y",
                  "dim 2 of operand 1 (%q: f32[batch,seq,4,2]) must equal dim 2 of operand 0"},
        BadModule{"BroadcastNotSuffix",
                  "%a = slice(%x) {axis=1, start=0, end=1} : f32[batch,1,4]\n"
                  "%y = add(%x, %a) : f32[batch,seq,4]\nreturn %y",
                  "the right operand's shape must equal a suffix of the left operand's"}),
    [](const testing::TestParamInfo<BadModule>& info) { return info.param.name; });

TEST(VerifierTest, StructuralErrors) {
  Module module;
  module.name = "m";
  Function f;
  f.name = "f";
  f.nodes.push_back(Node{Op::kParameter, "x", {DType::kF32, MakeShape({2})}, {}, {}});
  f.nodes.push_back(Node{Op::kRelu, "y", {DType::kF32, MakeShape({2})}, {2}, {}});
  f.params = {0};
  f.results = {1};
  module.functions.push_back(f);
  EXPECT_NE(std::string(VerifyModule(module).message()).find("operand 0 is not defined before its use"),
            std::string::npos);

  module.functions[0].nodes[1].operands = {0};
  module.functions[0].results = {};
  EXPECT_NE(std::string(VerifyModule(module).message()).find("returns nothing"), std::string::npos);

  module.functions[0].results = {1};
  module.functions[0].params = {};
  EXPECT_NE(std::string(VerifyModule(module).message()).find("parameters must be listed"),
            std::string::npos);

  module.functions[0].params = {0};
  module.functions[0].nodes[1].name = "x";
  EXPECT_NE(std::string(VerifyModule(module).message()).find("name defined twice"),
            std::string::npos);

  module.functions[0].nodes[1].name = "y";
  module.weights.push_back({"w", {DType::kF32, MakeShape({"n"})}});
  EXPECT_NE(std::string(VerifyModule(module).message()).find("weights need static shapes"),
            std::string::npos);
  module.weights.clear();
  EXPECT_TRUE(VerifyModule(module).ok());
}

TEST(BuilderTest, KeepsTheFirstErrorAndNamesTheValue) {
  Module module;
  module.name = "m";
  FunctionBuilder b(module, "f");
  ValueId x = b.Parameter("x", {DType::kF32, MakeShape({"seq", 4})});
  ValueId w = b.Weight("w", {DType::kF32, MakeShape({8, 5})});
  ValueId y = b.Add(Op::kMatmulNT, {x, w}, {}, "proj");
  EXPECT_EQ(y, FunctionBuilder::kNoValue);
  EXPECT_EQ(b.Add(Op::kRelu, {x}), FunctionBuilder::kNoValue);
  absl::Status status = b.Finish({x});
  EXPECT_NE(std::string(status.message()).find("building %proj (matmul_nt)"), std::string::npos)
      << status;
  EXPECT_TRUE(module.functions.empty());
}

TEST(BuilderTest, UniquifiesNamesAndReusesWeightConstants) {
  Module module;
  module.name = "m";
  FunctionBuilder b(module, "f");
  ValueId x = b.Parameter("x", {DType::kF32, MakeShape({4})});
  ValueId a = b.Add(Op::kRelu, {x}, {}, "act");
  ValueId c = b.Add(Op::kRelu, {a}, {}, "act");
  ValueId w1 = b.Weight("w", {DType::kF32, MakeShape({4})});
  ValueId w2 = b.Weight("w", {DType::kF32, MakeShape({4})});
  EXPECT_EQ(w1, w2);
  ValueId s = b.Add(Op::kAdd, {c, w1});
  ASSERT_TRUE(b.Finish({s}).ok());
  EXPECT_EQ(module.functions[0].node(c).name, "act.1");
  EXPECT_EQ(module.weights.size(), 1u);
}

}  // namespace
}  // namespace kiln
