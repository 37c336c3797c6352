// Parser half of ir/text.h: a hand-written lexer and recursive-descent parser.
#include <cctype>
#include <charconv>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "ir/verifier.h"

namespace kiln {
namespace {

enum class TokenKind { kWord, kString, kPunct, kEnd };

// A token: a word ([A-Za-z0-9_.+-]+), a quoted string (unescaped), or one
// punctuation character.
struct Token {
  TokenKind kind;
  std::string text;
  int line;
  int column;
};

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '+' ||
         c == '-';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits the text into tokens, skipping whitespace and // comments.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  absl::StatusOr<std::vector<Token>> Run() {
    std::vector<Token> tokens;
    while (true) {
      SkipSpaceAndComments();
      Token token{TokenKind::kEnd, "", line_, column_};
      if (pos_ >= text_.size()) {
        tokens.push_back(token);
        return tokens;
      }
      char c = text_[pos_];
      if (c == '"') {
        KILN_ASSIGN_OR_RETURN(token.text, ReadString());
        token.kind = TokenKind::kString;
      } else if (IsWordChar(c)) {
        token.kind = TokenKind::kWord;
        while (pos_ < text_.size() && IsWordChar(text_[pos_])) token.text += Advance();
      } else if (std::string_view("{}()[],:=%@").find(c) != std::string_view::npos) {
        token.kind = TokenKind::kPunct;
        token.text = std::string(1, Advance());
      } else {
        return Fail(absl::StrCat("unexpected character '", std::string(1, c), "'"));
      }
      tokens.push_back(std::move(token));
    }
  }

 private:
  char Advance() {
    char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    return c;
  }

  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        Advance();
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
      } else {
        return;
      }
    }
  }

  absl::StatusOr<std::string> ReadString() {
    Advance();  // opening quote
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = Advance();
      if (c == '\n') return Fail("unterminated string");
      if (c != '\\') {
        out += c;
        continue;
      }
      int hi = pos_ < text_.size() ? HexValue(text_[pos_]) : -1;
      int lo = pos_ + 1 < text_.size() ? HexValue(text_[pos_ + 1]) : -1;
      if (hi < 0 || lo < 0) return Fail("a string escape must be \\ and two hex digits");
      Advance();
      Advance();
      out += static_cast<char>(hi * 16 + lo);
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    Advance();  // closing quote
    return out;
  }

  absl::Status Fail(const std::string& message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_, ", column ", column_, ": ", message));
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

// Recursive-descent parser over the token list.
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<Module> ParseModuleText() {
    Module module;
    KILN_RETURN_IF_ERROR(ExpectWord("module"));
    KILN_RETURN_IF_ERROR(Expect("@"));
    KILN_ASSIGN_OR_RETURN(module.name, Word("a module name"));
    KILN_RETURN_IF_ERROR(Expect("{"));
    while (!Peek("}")) {
      if (PeekWord("weight")) {
        KILN_RETURN_IF_ERROR(ParseWeight(module));
      } else if (PeekWord("func")) {
        KILN_RETURN_IF_ERROR(ParseFunction(module));
      } else {
        return Fail("expected 'weight', 'func' or '}'");
      }
    }
    KILN_RETURN_IF_ERROR(Expect("}"));
    if (tokens_[pos_].kind != TokenKind::kEnd) return Fail("expected the end of the text");
    return module;
  }

 private:
  const Token& Current() const { return tokens_[pos_]; }
  bool Peek(std::string_view punct) const {
    return Current().kind == TokenKind::kPunct && Current().text == punct;
  }
  bool PeekWord(std::string_view word) const {
    return Current().kind == TokenKind::kWord && Current().text == word;
  }
  void Next() {
    if (Current().kind != TokenKind::kEnd) ++pos_;
  }

  absl::Status Fail(const std::string& message) const {
    const Token& t = Current();
    std::string found = t.kind == TokenKind::kEnd ? "end of text" : absl::StrCat("'", t.text, "'");
    return absl::InvalidArgumentError(
        absl::StrCat("line ", t.line, ", column ", t.column, ": ", message, ", found ", found));
  }

  absl::Status Expect(std::string_view punct) {
    if (!Peek(punct)) return Fail(absl::StrCat("expected '", std::string(punct), "'"));
    Next();
    return absl::OkStatus();
  }

  absl::Status ExpectWord(std::string_view word) {
    if (!PeekWord(word)) return Fail(absl::StrCat("expected '", std::string(word), "'"));
    Next();
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Word(std::string_view what) {
    if (Current().kind != TokenKind::kWord) return Fail(absl::StrCat("expected ", std::string(what)));
    std::string text = Current().text;
    Next();
    return text;
  }

  absl::StatusOr<std::string> String(std::string_view what) {
    if (Current().kind != TokenKind::kString) {
      return Fail(absl::StrCat("expected ", std::string(what), " in quotes"));
    }
    std::string text = Current().text;
    Next();
    return text;
  }

  absl::StatusOr<int64_t> Int() {
    const std::string& text = Current().text;
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (Current().kind != TokenKind::kWord || ec != std::errc() ||
        end != text.data() + text.size()) {
      return Fail("expected an integer");
    }
    Next();
    return value;
  }

  absl::StatusOr<double> Float() {
    const std::string& text = Current().text;
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (Current().kind != TokenKind::kWord || ec != std::errc() ||
        end != text.data() + text.size()) {
      return Fail("expected a number");
    }
    Next();
    return value;
  }

  // type := dtype '[' [dim (',' dim)*] ']'
  absl::StatusOr<TensorType> ParseType() {
    TensorType type;
    std::optional<DType> dtype = DTypeFromName(Current().text);
    if (Current().kind != TokenKind::kWord || !dtype) {
      return Fail("expected a dtype (f32, f16, bf16, i32, i64, i8, u4)");
    }
    type.dtype = *dtype;
    Next();
    KILN_RETURN_IF_ERROR(Expect("["));
    while (!Peek("]")) {
      if (!type.shape.empty()) KILN_RETURN_IF_ERROR(Expect(","));
      if (Current().kind == TokenKind::kWord &&
          std::isdigit(static_cast<unsigned char>(Current().text[0]))) {
        KILN_ASSIGN_OR_RETURN(int64_t size, Int());
        type.shape.push_back(Dim::Static(size));
      } else {
        KILN_ASSIGN_OR_RETURN(std::string symbol, Word("a dimension"));
        type.shape.push_back(Dim::Symbol(symbol));
      }
    }
    Next();
    return type;
  }

  absl::Status ParseWeight(Module& module) {
    Next();  // 'weight'
    WeightDecl weight;
    KILN_ASSIGN_OR_RETURN(weight.name, String("a weight name"));
    KILN_RETURN_IF_ERROR(Expect(":"));
    KILN_ASSIGN_OR_RETURN(weight.type, ParseType());
    module.weights.push_back(std::move(weight));
    return absl::OkStatus();
  }

  absl::StatusOr<ValueId> ValueRef(const std::map<std::string, ValueId>& names) {
    KILN_RETURN_IF_ERROR(Expect("%"));
    auto it = names.find(Current().text);
    if (Current().kind != TokenKind::kWord || it == names.end()) {
      return Fail("expected a defined value");
    }
    Next();
    return it->second;
  }

  absl::StatusOr<AttrValue> ParseAttrValue(AttrKind kind) {
    switch (kind) {
      case AttrKind::kInt:
        return Int();
      case AttrKind::kFloat:
        return Float();
      case AttrKind::kString:
        return String("a string");
      case AttrKind::kInts: {
        std::vector<int64_t> ints;
        KILN_RETURN_IF_ERROR(Expect("["));
        while (!Peek("]")) {
          if (!ints.empty()) KILN_RETURN_IF_ERROR(Expect(","));
          KILN_ASSIGN_OR_RETURN(int64_t v, Int());
          ints.push_back(v);
        }
        Next();
        return ints;
      }
    }
    return Fail("bad attribute kind");
  }

  absl::Status ParseAttrs(const OpInfo& info, Attrs& attrs) {
    if (!Peek("{")) return absl::OkStatus();
    Next();
    while (!Peek("}")) {
      if (!attrs.empty()) KILN_RETURN_IF_ERROR(Expect(","));
      const AttrSpec* spec = info.FindAttr(Current().text);
      if (Current().kind != TokenKind::kWord || spec == nullptr) {
        return Fail(absl::StrCat("expected an attribute of ", std::string(info.name)));
      }
      std::string key = Current().text;
      if (attrs.count(key)) return Fail("attribute given twice");
      Next();
      KILN_RETURN_IF_ERROR(Expect("="));
      KILN_ASSIGN_OR_RETURN(attrs[key], ParseAttrValue(spec->kind));
    }
    Next();
    return absl::OkStatus();
  }

  // stmt := '%' name '=' op '(' operands ')' [attrs] ':' type
  absl::Status ParseNode(Function& f, std::map<std::string, ValueId>& names) {
    Node node;
    KILN_RETURN_IF_ERROR(Expect("%"));
    KILN_ASSIGN_OR_RETURN(node.name, Word("a value name"));
    if (names.count(node.name)) return Fail(absl::StrCat("%", node.name, " is defined twice"));
    KILN_RETURN_IF_ERROR(Expect("="));
    std::optional<Op> op = OpFromName(Current().text);
    if (Current().kind != TokenKind::kWord || !op || *op == Op::kParameter) {
      return Fail("expected an op name");
    }
    node.op = *op;
    Next();
    KILN_RETURN_IF_ERROR(Expect("("));
    while (!Peek(")")) {
      if (!node.operands.empty()) KILN_RETURN_IF_ERROR(Expect(","));
      KILN_ASSIGN_OR_RETURN(ValueId operand, ValueRef(names));
      node.operands.push_back(operand);
    }
    Next();
    KILN_RETURN_IF_ERROR(ParseAttrs(GetOpInfo(node.op), node.attrs));
    KILN_RETURN_IF_ERROR(Expect(":"));
    KILN_ASSIGN_OR_RETURN(node.type, ParseType());
    names[node.name] = static_cast<ValueId>(f.nodes.size());
    f.nodes.push_back(std::move(node));
    return absl::OkStatus();
  }

  absl::Status ParseFunction(Module& module) {
    Next();  // 'func'
    Function f;
    std::map<std::string, ValueId> names;
    KILN_RETURN_IF_ERROR(Expect("@"));
    KILN_ASSIGN_OR_RETURN(f.name, Word("a function name"));
    KILN_RETURN_IF_ERROR(Expect("("));
    while (!Peek(")")) {
      if (!f.params.empty()) KILN_RETURN_IF_ERROR(Expect(","));
      Node param;
      KILN_RETURN_IF_ERROR(Expect("%"));
      KILN_ASSIGN_OR_RETURN(param.name, Word("a parameter name"));
      if (names.count(param.name)) return Fail(absl::StrCat("%", param.name, " is defined twice"));
      KILN_RETURN_IF_ERROR(Expect(":"));
      KILN_ASSIGN_OR_RETURN(param.type, ParseType());
      names[param.name] = static_cast<ValueId>(f.nodes.size());
      f.params.push_back(static_cast<ValueId>(f.nodes.size()));
      f.nodes.push_back(std::move(param));
    }
    Next();
    KILN_RETURN_IF_ERROR(Expect("{"));
    while (!PeekWord("return")) KILN_RETURN_IF_ERROR(ParseNode(f, names));
    Next();
    do {
      if (!f.results.empty()) KILN_RETURN_IF_ERROR(Expect(","));
      KILN_ASSIGN_OR_RETURN(ValueId result, ValueRef(names));
      f.results.push_back(result);
    } while (Peek(","));
    KILN_RETURN_IF_ERROR(Expect("}"));
    module.functions.push_back(std::move(f));
    return absl::OkStatus();
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Module> ParseModule(std::string_view text) {
  KILN_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lexer(text).Run());
  KILN_ASSIGN_OR_RETURN(Module module, Parser(std::move(tokens)).ParseModuleText());
  KILN_RETURN_IF_ERROR(VerifyModule(module));
  return module;
}

}  // namespace kiln
