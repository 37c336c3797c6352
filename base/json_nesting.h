// How deeply a JSON text nests, found without parsing it.
#ifndef KILN_BASE_JSON_NESTING_H_
#define KILN_BASE_JSON_NESTING_H_

#include <string_view>

namespace kiln {

// The deepest nesting of objects and arrays in JSON `text`, counting only
// brackets outside strings (a stray closing bracket never takes the count
// below 0). Check it before parsing hostile text: nlohmann's parser, copies
// and dump recurse, so a hostile depth would overflow the stack. For the
// prefix a parser reads before it stops at a syntax error, this bounds the
// depth it builds.
int JsonNestingDepth(std::string_view text);

}  // namespace kiln

#endif  // KILN_BASE_JSON_NESTING_H_
