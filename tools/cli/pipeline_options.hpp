// What convert, merge, split and reshard share: the pipeline's selection options (--filter,
// --exclude, --rename, --dtype), its output options (--align, --no-verify, --force), the
// progress bar and the report they print.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "output.hpp"
#include "safetensors/pipeline.hpp"
#include "safetensors/torch/sharded.hpp"

namespace safetensors::cli {

struct pipeline_args {
  std::vector<std::string> filter, exclude, rename;
  std::string dtype, max_shard_size;
  std::uint64_t align = 8;
  bool no_verify = false, force = false, json = false, quiet = false;
};

/// --filter, --exclude, --rename, --dtype.
void add_selection_options(CLI::App& sub, pipeline_args& a);
/// --align, --no-verify, --force, --json, --quiet.
void add_output_options(CLI::App& sub, pipeline_args& a);

/// The selection rules, or a one-line usage error (printed) and nullopt.
std::optional<select_rules> selection_rules(const pipeline_args& a);

/// The input checkpoint (any kind: safetensors or PyTorch, file, folder or index) read through
/// the selection rules.
result<tensor_set> open_selected(const std::string& input,
                                 const std::optional<torch::checkpoint_format>& format,
                                 const select_rules& rules);

/// The output options the flags ask for (sharding options stay at their defaults).
output_options output_options_for(const pipeline_args& a, progress_fn progress);

/// "2GB", "500MB", "1.5GiB", "4096": decimal (KB/MB/GB/TB) or binary (KiB/MiB/GiB/TiB) units.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// A floating dtype by its format name or a common alias (f16, half, bf16, float32, f8_e4m3, ...);
/// case-insensitive.
std::optional<dtype> parse_float_dtype(std::string_view name);

/// Draws one progress bar labelled `label` (on a terminal, unless quiet) from the pipeline's
/// progress callbacks.
class pipeline_progress {
 public:
  pipeline_progress(std::string label, bool quiet) : label_(std::move(label)), quiet_(quiet) {}
  progress_fn callback();
  void finish();

 private:
  std::string label_;
  bool quiet_;
  std::optional<progress_bar> bar_;
  std::uint64_t total_ = 0;
};

/// What a pipeline command did, for print_pipeline_report.
struct pipeline_summary {
  std::string verb;  ///< "converted", "merged", ...
  std::string input;
  std::vector<std::filesystem::path> written, removed, copied;
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<std::string> notes;
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;
  bool verified = false;
  double seconds = 0;
};

/// `--json`: one object; else notes, aliases, copied/removed/written files and one summary line
/// (nothing with --quiet).
void print_pipeline_report(const pipeline_summary& s, bool json, bool quiet);

}  // namespace safetensors::cli
