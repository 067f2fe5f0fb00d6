// Editing `__metadata__` of a safetensors file, and the "metadata" object of a sharded
// checkpoint's index, without touching tensor bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "safetensors/header.hpp"

namespace safetensors {

/// Keys to set (to string values) and keys to remove. A key both set and unset is an error.
struct metadata_edit {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::string> unset;
  bool empty() const noexcept { return set.empty() && unset.empty(); }
};

/// `m` with the edit applied (entries stay sorted by key; `present` becomes true when a key is
/// set). invalid_argument when a key is both set and unset or set twice, or when a key or value
/// is not valid UTF-8.
result<metadata_map> apply_metadata_edit(metadata_map m, const metadata_edit& edit);

enum class metadata_write { unchanged, in_place, rewritten };

struct metadata_write_options {
  bool fsync = true;
  std::uint64_t max_header_size = default_max_header_size;
};

/// Replaces the `__metadata__` of the safetensors file `path` with `metadata` (tensor entries,
/// offsets and data bytes unchanged; the header is re-serialized like the writer does).
/// When the new header fits in the old header's N bytes it is written in place, padded with
/// spaces to the same N (so the data section does not move); otherwise the file is rewritten
/// through a temp file and renamed over it (atomic; the data section keeps its alignment, up
/// to 4096, at least 8; the file mode is kept). Either way the result is re-read by the strict
/// reader before the call returns (an in-place write that does not read back is undone).
/// Errors: the reader's for `path`; io naming the path when it cannot be written, including a
/// file without any write permission bit (refused even for root); header_too_large.
result<metadata_write> write_metadata(const std::filesystem::path& path,
                                      const metadata_map& metadata,
                                      const metadata_write_options& opts = {});

/// The "metadata" object of an index.json: (key, value) in document order; string values
/// unquoted, other values as compact JSON (`total_size` -> "123"). `present` false when absent.
struct index_metadata {
  bool present = false;
  std::vector<std::pair<std::string, std::string>> entries;
  std::vector<bool> is_string;  ///< per entry: the value is a JSON string
};
result<index_metadata> read_index_metadata(const std::filesystem::path& index);

/// Applies `edit` to the index's "metadata" object (set values are strings; the other members
/// of the index are kept as they are, compacted) and replaces the index atomically.
/// invalid_argument for setting `total_size` (it must stay a number); invalid_index for an
/// index that is not a JSON object or whose "metadata" is not an object.
result<void> edit_index_metadata(const std::filesystem::path& index, const metadata_edit& edit,
                                 bool fsync = true);

}  // namespace safetensors
