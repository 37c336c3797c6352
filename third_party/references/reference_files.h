// Finds the reference files that tools/fetch_references.sh fetched, from a
// test. The test lists the group's filegroup (//third_party/references:NAME)
// in `data`; Bazel runs it from the runfiles root, where the files appear
// under third_party/references/<group>/ (the same path as from the
// repository root, so a test binary also runs from there).
//
// A missing file is an error, never a reason to skip: a test that skipped
// whenever the fetch had not run would pass while testing nothing.
#ifndef KILN_THIRD_PARTY_REFERENCES_REFERENCE_FILES_H_
#define KILN_THIRD_PARTY_REFERENCES_REFERENCE_FILES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln {

// What to do when a file is missing; part of every NotFound message.
inline constexpr char kFetchReferencesHint[] =
    "run tools/fetch_references.sh (called by tools/setup.sh)";

// third_party/references/<group>/<name>, or NotFound naming that path and
// the fetch script.
absl::StatusOr<std::string> ReferenceFile(std::string_view group, std::string_view name);

// The paths of the group's files whose names end with `suffix`, sorted;
// NotFound when there are none.
absl::StatusOr<std::vector<std::string>> ReferenceFiles(std::string_view group,
                                                        std::string_view suffix);

}  // namespace kiln

#endif  // KILN_THIRD_PARTY_REFERENCES_REFERENCE_FILES_H_
