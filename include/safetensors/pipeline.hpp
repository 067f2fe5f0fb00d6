// The checkpoint pipeline behind convert, merge, split and reshard: sources -> selection,
// renaming and casting -> one writer (a single file or a shard set published together).
//
//   auto set = safetensors::open_source("model-folder");                 // or the torch layer's
//   safetensors::select_rules rules;                                      // torch::open_source
//   rules.exclude = {"*.lora_*"};
//   rules.cast = safetensors::dtype::BF16;
//   ST_TRY(safetensors::apply_rules(*set, rules));
//   safetensors::output_options out;
//   out.max_shard_size = 5'000'000'000;
//   auto report = safetensors::write_shards(*set, "out-folder", out);
//
// Every byte goes through bounded buffers (pread from the sources, a fixed-size write buffer, a
// cast in pieces), so the resident set does not grow with the checkpoint or its largest tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"
#include "safetensors/header.hpp"
#include "safetensors/writer.hpp"

namespace safetensors {

/// Called with (bytes written so far, total bytes) as data is written.
using progress_fn = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// One tensor on its way to the writer. `stream` pushes its row-major bytes in order (always
/// set); `read`, when set (a contiguous run of a file), copies any range of them, which lets the
/// writer pread straight into its output buffer.
struct source_tensor {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t nbytes = 0;
  std::function<result<void>(const byte_sink&)> stream;
  byte_reader read;
  std::size_t shard = 0;  ///< which file of a sharded source it comes from (keep_shards)
};

/// The tensors of one checkpoint (or of several, concatenated), its `__metadata__`, and what
/// keeps the sources open.
struct tensor_set {
  std::vector<source_tensor> tensors;
  metadata_map metadata;
  /// Tensors that share storage and were stored once (dropped, kept), from torch sources; the
  /// metadata holds one `dropped: kept` entry for each.
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<std::string> notes;
  std::vector<std::shared_ptr<const void>> owners;
};

/// A safetensors file, sharded folder or index.json as a tensor set (checkpoint::open checks
/// everything first; bytes are then read with pread, nothing is mapped). Metadata: the first
/// shard's.
result<tensor_set> open_source(const std::filesystem::path& path);

/// Appends `more` to `set` (its tensors, their shard numbers after those of `set`, aliases,
/// notes and owners; the metadata of `set` is kept, or taken from `more` when `set` has none).
void append(tensor_set& set, tensor_set&& more);

/// `REGEX=REPLACEMENT` (ECMAScript regex; `$1` in the replacement; every match replaced).
struct rename_rule {
  std::string text;  ///< as given, for messages
  std::regex pattern;
  std::string replacement;
  /// Splits at the first '=' not preceded by a backslash (write `\=` for a literal '=' in the
  /// regex). invalid_argument for a missing '=' or a bad regex.
  static result<rename_rule> parse(std::string_view text);
};

struct select_rules {
  std::vector<std::string> include;  ///< fnmatch globs; a tensor is kept when it matches one
  std::vector<std::string> exclude;  ///< ... and matches none of these
  std::vector<rename_rule> rename;   ///< applied in order, each to the previous result
  /// Floating tensors (F64 ... F8, F6, F4) are written in this floating dtype; integers, BOOL
  /// and C64 stay as they are.
  std::optional<dtype> cast;
};

/// Filters, renames and casts `set` in place (include/exclude test the source names).
/// invalid_argument when nothing is left, a rename yields an empty name or two tensors the same
/// name (naming both), the cast target is not a floating dtype, or a tensor's element count
/// does not fill whole bytes of the target (an odd count cast to F4); aliases and their
/// metadata entries follow renames and disappear with their tensors.
result<void> apply_rules(tensor_set& set, const select_rules& rules);

/// fnmatch(3) of a tensor name against a glob (no special meaning for '/' or '.').
bool glob_match(std::string_view pattern, std::string_view name);

struct output_options {
  std::uint64_t alignment = 8;                   ///< data section alignment: 8, 64 or 4096
  std::uint64_t max_shard_size = 5'000'000'000;  ///< write_shards: bytes of tensor data per shard
  std::string prefix = "model";                  ///< write_shards: model-00001-of-00002...
  /// write_shards: one output shard per source shard (source_tensor::shard) instead of cutting
  /// at max_shard_size; a single source shard still gets a numbered shard and an index.
  bool keep_shards = false;
  /// Read every written file back (strict reader; every tensor once, its dtype and shape) and
  /// compare its tensors' bytes with checksums of the bytes written (the sources are not re-read).
  bool verify = true;
  bool fsync = true;
  bool force = false;  ///< replace existing outputs (else invalid_argument naming one)
  /// The input checkpoint: when it is a folder (or an index.json, then its folder) other than
  /// the output's, its companion_files() are copied beside the output after the checkpoint is
  /// in place (an existing one is refused before anything is written, unless force).
  std::filesystem::path companions_of;
  progress_fn progress;
};

struct output_report {
  std::vector<std::filesystem::path> written;  ///< files in place (shards, then the index)
  std::vector<std::filesystem::path> removed;  ///< stale shards of the replaced set
  std::vector<std::filesystem::path> copied;   ///< companion files copied beside the output
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;  ///< tensor data bytes written
  bool verified = false;
};

/// Writes `set` as one file, atomically (temp file, checked against the sources while it is
/// fsynced, rename). The file may be one of the inputs.
result<output_report> write_checkpoint(const tensor_set& set, const std::filesystem::path& path,
                                       const output_options& opts = {});

/// Writes `set` as Hugging Face shards into the folder `dir` (created if missing):
/// `<prefix>-0000N-of-0000M.safetensors` split greedily in the writer's order, each with the
/// set's metadata, and `<prefix>.safetensors.index.json`; a set that fits one shard becomes
/// `<prefix>.safetensors` alone. Every file is complete and checked before any is renamed into
/// place; then the files of an earlier set of the same prefix that the new one does not
/// replace are removed (the folder never holds shards its index does not name). The folder may
/// be the input's.
result<output_report> write_shards(const tensor_set& set, const std::filesystem::path& dir,
                                   const output_options& opts = {});

/// The outputs write_shards (prefix) would replace in `dir`: `<prefix>.safetensors`, its index,
/// numbered shards.
std::vector<std::filesystem::path> existing_outputs(const std::filesystem::path& dir,
                                                    std::string_view prefix);

/// Regular files of a model folder that are not weights (config.json, tokenizer files, ...).
std::vector<std::filesystem::path> companion_files(const std::filesystem::path& folder);

/// Copies a file through a temp file + rename (fsync when asked).
result<void> copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to,
                              bool fsync = true);

}  // namespace safetensors
