// Python semantics of chat template values: truth, str(), repr(), ==, <,
// str.isspace() and json.dumps(ensure_ascii=False) as Transformers' tojson.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/chat_template_internal.h"

namespace kiln::chat_template_internal {

Value Value::Undefined(std::string why) {
  Value v;
  v.str = std::make_shared<const std::string>(std::move(why));
  return v;
}
Value Value::None() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}
Value Value::Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.integer = i;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.str = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::List(ValueList items) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::make_shared<const ValueList>(std::move(items));
  return v;
}
Value Value::Tuple(ValueList items) {
  Value v = List(std::move(items));
  v.tuple = true;
  return v;
}
Value Value::Map(ValueMap items) {
  Value v;
  v.kind = Kind::kMap;
  v.map = std::make_shared<ValueMap>(std::move(items));
  return v;
}
Value Value::Namespace(ValueMap items) {
  Value v = Map(std::move(items));
  v.kind = Kind::kNamespace;
  return v;
}
Value Value::Function(std::string name) {
  Value v;
  v.kind = Kind::kFunction;
  v.str = std::make_shared<const std::string>(std::move(name));
  return v;
}

namespace {
// The lists and maps whose last reference a Value's destructor dropped
// while a drain further up this thread's stack runs: that drain destroys
// them, so the stack holds one level of nesting at a time.
thread_local std::vector<std::shared_ptr<const void>>* pending_destruction = nullptr;
}  // namespace

Value::~Value() {
  const bool last_list = list != nullptr && list.use_count() == 1;
  const bool last_map = map != nullptr && map.use_count() == 1;
  if (!last_list && !last_map) return;
  if (pending_destruction != nullptr) {
    if (last_list) pending_destruction->push_back(std::move(list));
    if (last_map) pending_destruction->push_back(std::move(map));
    return;
  }
  std::vector<std::shared_ptr<const void>> drain;
  if (last_list) drain.push_back(std::move(list));
  if (last_map) drain.push_back(std::move(map));
  pending_destruction = &drain;
  while (!drain.empty()) {
    std::shared_ptr<const void> next = std::move(drain.back());
    drain.pop_back();
    next.reset();  // its items' destructors push their own last references
  }
  pending_destruction = nullptr;
}

bool Reaches(const Value& v, const ValueMap* map, Budget& budget) {
  // Iterative walk; `seen` keeps shared sub-values from being walked twice.
  std::vector<const Value*> todo = {&v};
  std::unordered_set<const void*> seen;
  while (!todo.empty()) {
    if (!budget.Spend(1)) return true;
    const Value* x = todo.back();
    todo.pop_back();
    if (x->is(Value::Kind::kList) && seen.insert(x->list.get()).second) {
      for (const Value& item : *x->list) todo.push_back(&item);
    } else if ((x->is(Value::Kind::kMap) || x->is(Value::Kind::kNamespace)) &&
               seen.insert(x->map.get()).second) {
      if (x->map.get() == map) return true;
      for (const auto& kv : *x->map) todo.push_back(&kv.second);
    }
  }
  return false;
}

const Value* MapFind(const ValueMap& m, std::string_view key, Budget& budget) {
  if (!budget.SpendKeys(m.size())) return nullptr;
  for (const auto& [k, v] : m) {
    if (k.size() != key.size()) continue;
    // Keys of one length compare in full: a long key costs its bytes.
    if (!budget.Spend(static_cast<int64_t>(key.size() / 16))) return nullptr;
    if (k == key) return &v;
  }
  return nullptr;
}

size_t KeyBytes(const ValueMap& m) {
  size_t n = 0;
  for (const auto& kv : m) n += kv.first.size();
  return n;
}

TextSearch::TextSearch(std::string_view needle, Budget& budget) : needle_(needle) {
  if (!budget.SpendBytes(needle.size())) return;  // Find finds nothing then
  border_.assign(needle.size(), 0);
  for (size_t i = 1, k = 0; i < needle_.size(); ++i) {
    while (k > 0 && needle_[i] != needle_[k]) k = border_[k - 1];
    if (needle_[i] == needle_[k]) ++k;
    border_[i] = k;
  }
}

size_t TextSearch::Find(std::string_view text, size_t from, Budget& budget) const {
  if (budget.exhausted()) return std::string_view::npos;
  if (needle_.empty()) return from <= text.size() ? from : std::string_view::npos;
  if (from > text.size() || needle_.size() > text.size() - from) return std::string_view::npos;
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* p = begin + std::min(from, text.size());
  size_t matched = 0;  // needle_[0, matched) ends just before p
  while (p < end) {
    if (matched == 0) {  // nothing matched yet: skip to the needle's first byte
      p = static_cast<const char*>(std::memchr(p, needle_[0], static_cast<size_t>(end - p)));
      if (p == nullptr) break;
    }
    while (matched > 0 && *p != needle_[matched]) matched = border_[matched - 1];
    if (*p == needle_[matched]) ++matched;
    ++p;
    if (matched == needle_.size()) {
      budget.SpendBytes(static_cast<size_t>(p - begin) - std::min(from, text.size()));
      return static_cast<size_t>(p - begin) - needle_.size();
    }
  }
  budget.SpendBytes(text.size() - std::min(from, text.size()));
  return std::string_view::npos;
}

absl::Status Budget::Exhausted() const {
  if (too_deep_) {
    return absl::ResourceExhaustedError(absl::StrCat("a value nested deeper than ", kMaxValueDepth,
                                                     " levels (lists, dicts and namespaces)"));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("the template ran too long: more than ", step_limit_,
                   " steps, the limit for a conversation of this size (real chat templates take "
                   "under 100 a message)"));
}

bool Truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return false;
    case Value::Kind::kBool: return v.boolean;
    case Value::Kind::kInt: return v.integer != 0;
    case Value::Kind::kString: return !v.s().empty();
    case Value::Kind::kList: return !v.list->empty();
    case Value::Kind::kMap: return !v.map->empty();
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction: return true;
  }
  return false;
}

std::string TypeName(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kString: return "str";
    case Value::Kind::kList: return "list";
    case Value::Kind::kMap: return "dict";
    case Value::Kind::kNamespace: return "Namespace";
    case Value::Kind::kFunction: return "function";
  }
  return "object";
}

namespace {

// repr() of a str: single quotes unless the text has ' and no ".
void ReprString(const std::string& s, std::string& out) {
  char quote = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  out += quote;
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == static_cast<unsigned char>(quote)) out += absl::StrCat("\\", std::string(1, quote));
    else if (c < 0x20 || c == 0x7f) out += absl::StrCat("\\x", std::string(1, "0123456789abcdef"[c >> 4]), std::string(1, "0123456789abcdef"[c & 15]));
    else out += static_cast<char>(c);
  }
  out += quote;
}

// repr(v) appended to out, v at `depth` (one buffer, so that nesting costs
// no copies).
void ReprInto(const Value& v, Budget& budget, int depth, std::string& out) {
  if (!budget.Nest(depth) || !budget.SpendBytes(v.is(Value::Kind::kString) ? v.s().size() : 0))
    return;
  switch (v.kind) {
    case Value::Kind::kString:
      ReprString(v.s(), out);
      return;
    case Value::Kind::kList:
      out += v.tuple ? "(" : "[";
      for (size_t i = 0; i < v.list->size() && !budget.exhausted(); ++i) {
        if (i) out += ", ";
        ReprInto((*v.list)[i], budget, depth + 1, out);
      }
      out += !v.tuple ? "]" : v.list->size() == 1 ? ",)" : ")";
      return;
    case Value::Kind::kMap:
      out += "{";
      for (size_t i = 0; i < v.map->size() && budget.SpendBytes((*v.map)[i].first.size()); ++i) {
        if (i) out += ", ";
        ReprString((*v.map)[i].first, out);
        out += ": ";
        ReprInto((*v.map)[i].second, budget, depth + 1, out);
      }
      out += "}";
      return;
    default:
      out += ToStr(v, budget);
  }
}

void JsonString(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += "0123456789abcdef"[c >> 4];
          out += "0123456789abcdef"[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

absl::Status Json(const Value& v, int indent, int level, std::string& out, Budget& budget) {
  if (level > kMaxExprDepth) return absl::InvalidArgumentError("tojson: value nested too deeply");
  if (!budget.SpendBytes(v.is(Value::Kind::kString) ? v.s().size() : 0)) return budget.Exhausted();
  if (out.size() > kMaxStringBytes) return absl::ResourceExhaustedError("tojson: output larger than 16 MiB");
  auto newline = [&](int l) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(l), ' ');
  };
  const char* sep = indent < 0 ? ", " : ",";
  switch (v.kind) {
    case Value::Kind::kUndefined: return absl::InvalidArgumentError("tojson: value is undefined");
    case Value::Kind::kNone: out += "null"; return absl::OkStatus();
    case Value::Kind::kBool: out += v.boolean ? "true" : "false"; return absl::OkStatus();
    case Value::Kind::kInt: out += std::to_string(v.integer); return absl::OkStatus();
    case Value::Kind::kString: JsonString(v.s(), out); return absl::OkStatus();
    case Value::Kind::kList:
    case Value::Kind::kMap: {
      const bool is_list = v.is(Value::Kind::kList);
      const size_t n = is_list ? v.list->size() : v.map->size();
      out += is_list ? '[' : '{';
      for (size_t i = 0; i < n; ++i) {
        if (i) out += sep;
        newline(level + 1);
        if (!is_list) {
          if (!budget.SpendBytes((*v.map)[i].first.size())) return budget.Exhausted();
          JsonString((*v.map)[i].first, out);
          out += ": ";
        }
        KILN_RETURN_IF_ERROR(
            Json(is_list ? (*v.list)[i] : (*v.map)[i].second, indent, level + 1, out, budget));
      }
      if (n > 0) newline(level);
      out += is_list ? ']' : '}';
      return absl::OkStatus();
    }
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("tojson: object of type ", TypeName(v), " is not JSON serializable"));
}

int Numeric(const Value& v) { return v.is(Value::Kind::kBool) || v.is(Value::Kind::kInt); }
int64_t AsInt(const Value& v) { return v.is(Value::Kind::kBool) ? (v.boolean ? 1 : 0) : v.integer; }

}  // namespace

std::string Repr(const Value& v, Budget& budget) {
  std::string out;
  ReprInto(v, budget, 0, out);
  return out;
}

std::string ToStr(const Value& v, Budget& budget) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.boolean ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.integer);
    case Value::Kind::kString:
      if (!budget.SpendBytes(v.s().size())) return "";
      return v.s();
    case Value::Kind::kList:
    case Value::Kind::kMap:
      return Repr(v, budget);
    case Value::Kind::kNamespace: return "<Namespace>";
    case Value::Kind::kFunction: return absl::StrCat("<function ", v.s(), ">");
  }
  return "";
}

namespace {

bool EqualsAt(const Value& a, const Value& b, Budget& budget, int depth) {
  if (!budget.Nest(depth) || !budget.Spend(1)) return false;
  if (Numeric(a) && Numeric(b)) return AsInt(a) == AsInt(b);  // Python: True == 1
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString:
      return budget.SpendBytes(a.s().size()) && a.s() == b.s();
    case Value::Kind::kList:
      // The same list object: equal without a walk (lists are immutable and
      // hold no NaN), as Python's identity shortcut for items.
      if (a.list == b.list) return true;
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i) {
        if (!EqualsAt((*a.list)[i], (*b.list)[i], budget, depth + 1)) return false;
      }
      return true;
    case Value::Kind::kMap:
      if (a.map == b.map) return true;
      if (a.map->size() != b.map->size()) return false;
      for (const auto& [k, v] : *a.map) {
        const Value* other = MapFind(*b.map, k, budget);
        if (other == nullptr || !EqualsAt(v, *other, budget, depth + 1)) return false;
      }
      return true;
    case Value::Kind::kNamespace: return a.map == b.map;
    case Value::Kind::kFunction: return a.s() == b.s();
    default: return false;
  }
}

absl::StatusOr<bool> LessAt(const Value& a, const Value& b, Budget& budget, int depth) {
  if (!budget.Nest(depth) || !budget.Spend(1)) return budget.Exhausted();
  if (Numeric(a) && Numeric(b)) return AsInt(a) < AsInt(b);
  if (a.is(Value::Kind::kString) && b.is(Value::Kind::kString)) {
    if (!budget.SpendBytes(std::min(a.s().size(), b.s().size()))) return budget.Exhausted();
    return a.s() < b.s();  // UTF-8 order = code point order
  }
  if (a.is(Value::Kind::kList) && b.is(Value::Kind::kList)) {
    for (size_t i = 0; i < a.list->size() && i < b.list->size(); ++i) {
      if (EqualsAt((*a.list)[i], (*b.list)[i], budget, depth + 1)) continue;
      if (budget.exhausted()) return budget.Exhausted();
      return LessAt((*a.list)[i], (*b.list)[i], budget, depth + 1);
    }
    return a.list->size() < b.list->size();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'<' not supported between instances of '", TypeName(a), "' and '", TypeName(b), "'"));
}

}  // namespace

bool Equals(const Value& a, const Value& b, Budget& budget) { return EqualsAt(a, b, budget, 0); }

absl::StatusOr<bool> Less(const Value& a, const Value& b, Budget& budget) {
  return LessAt(a, b, budget, 0);
}

size_t PySpaceAt(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  if (c < 0x80) return 0;
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (c == 0xc2 && (at(1) == 0x85 || at(1) == 0xa0)) return 2;  // U+0085, U+00A0
  if (c == 0xe1 && at(1) == 0x9a && at(2) == 0x80) return 3;      // U+1680
  if (c == 0xe2 && at(1) == 0x80 && (at(2) <= 0x8a || at(2) == 0xa8 || at(2) == 0xa9 || at(2) == 0xaf) &&
      at(2) >= 0x80) {
    return 3;  // U+2000..U+200A, U+2028, U+2029, U+202F
  }
  if (c == 0xe2 && at(1) == 0x81 && at(2) == 0x9f) return 3;  // U+205F
  if (c == 0xe3 && at(1) == 0x80 && at(2) == 0x80) return 3;  // U+3000
  return 0;
}

std::string_view PyStrip(std::string_view s, bool left, bool right) {
  if (left) {
    size_t i = 0;
    while (i < s.size()) {
      size_t n = PySpaceAt(s, i);
      if (n == 0) break;
      i += n;
    }
    s.remove_prefix(i);
  }
  if (right) {
    while (!s.empty()) {
      size_t start = s.size() - 1;  // the last character's first byte
      while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && s.size() - start < 4) --start;
      if (PySpaceAt(s, start) != s.size() - start) break;
      s.remove_suffix(s.size() - start);
    }
  }
  return s;
}

std::vector<size_t> CodePointStarts(std::string_view s) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 0 || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  starts.push_back(s.size());
  return starts;
}

absl::StatusOr<std::string> ToJson(const Value& v, int indent, Budget& budget) {
  std::string out;
  KILN_RETURN_IF_ERROR(Json(v, indent, 0, out, budget));
  return out;
}

}  // namespace kiln::chat_template_internal
