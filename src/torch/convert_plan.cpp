#include "torch/convert_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/try.hpp"
#include "safetensors/torch/sharded.hpp"

namespace safetensors::torch::detail {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t default_shard_size = 5'000'000'000;

std::string renamed(const fs::path& input) {
  std::string stem = input.stem().string();
  if (auto at = stem.find("pytorch_model"); at != std::string::npos) stem.replace(at, 13, "model");
  return stem + ".safetensors";
}

/// The output prefix for a torch index: pytorch_model.bin.index.json -> model (as convert.py
/// names it), other names keep their stem (consolidated.pt.index.json -> consolidated).
std::string torch_prefix(std::string_view index_name) {
  auto stem = fs::path(std::string(index_name.substr(0, index_name.size() - 11))).stem().string();
  if (auto at = stem.find("pytorch_model"); at != std::string::npos) stem.replace(at, 13, "model");
  return stem.empty() ? "model" : stem;
}

/// A model folder, or the torch index.json `index` in it: the weights resolve_checkpoint picks.
result<void> plan_folder(const fs::path& input, const fs::path& index, const fs::path& output,
                         const convert_options& opts, output_plan& p) {
  p.dir = output.empty() ? input : output;
  p.sharded = true;
  p.max_shard_size = opts.max_shard_size.value_or(default_shard_size);
  // A folder holding both formats converts its PyTorch weights unless told otherwise: they are
  // what a conversion is for (and what an in-place re-run with --force should read again).
  const auto where = ST_TRY(
      resolve_checkpoint(index.empty() ? input : index, opts.format, checkpoint_format::pytorch));
  if (!where.note.empty()) p.notes.push_back(where.note);
  const auto name = where.path.filename().string();
  if (where.format == checkpoint_format::safetensors) {
    p.safetensors_input = true;
    p.safetensors_path = where.path;
  } else if (name.ends_with(".index.json")) {
    p.torch_inputs = ST_TRY(index_shard_files(where.path));
    p.one_to_one = !opts.max_shard_size;
    p.sharded = !p.one_to_one;
    p.prefix = torch_prefix(name);
  } else {
    p.torch_inputs = {where.path};
  }
  return {};
}

result<void> plan_file(const fs::path& input, const fs::path& output, const convert_options& opts,
                       output_plan& p) {
  static const std::set<std::string> torch_exts{".bin", ".pt", ".pth", ".ckpt", ".pkl", ".tar"};
  p.safetensors_input =
      !looks_like_torch_file(input) && !torch_exts.count(input.extension().string());
  if (!p.safetensors_input) p.torch_inputs = {input};
  if (opts.max_shard_size) {
    p.sharded = true;
    p.max_shard_size = *opts.max_shard_size;
    p.dir = output.empty() ? input.parent_path() : output;
    p.prefix = fs::path(renamed(input)).stem().string();
    return {};
  }
  if (output.empty())
    p.file = default_output_path(input);
  else if (fs::is_directory(output))
    p.file = output / renamed(input);
  else
    p.file = output;
  std::error_code ec;
  if (!p.safetensors_input && fs::exists(p.file) && fs::equivalent(p.file, input, ec))
    return fail(errc::invalid_argument,
                fmt::format("{}: the output would replace the torch input; choose another name",
                            input.string()));
  p.dir = p.file.parent_path();
  return {};
}

}  // namespace

fs::path default_output_path(const fs::path& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec)) return input;
  return input.parent_path() / renamed(input);
}

result<output_plan> plan_output(const fs::path& input, const fs::path& output,
                                const convert_options& opts) {
  std::error_code ec;
  if (!fs::exists(input, ec))
    return fail(errc::io, fmt::format("{}: no such file or folder", input.string()));
  output_plan p;
  const auto name = input.filename().string();
  if (fs::is_directory(input, ec))
    ST_TRY(plan_folder(input, {}, output, opts, p));
  else if (name.ends_with(".index.json") && !name.ends_with(".safetensors.index.json"))
    ST_TRY(plan_folder(input.parent_path(), input, output, opts, p));
  else
    ST_TRY(plan_file(input, output, opts, p));
  return p;
}

}  // namespace safetensors::torch::detail
