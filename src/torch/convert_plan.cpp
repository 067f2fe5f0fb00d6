#include "torch/convert_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/json_fields.hpp"
#include "core/mapped_file.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"

namespace safetensors::torch::detail {
namespace fs = std::filesystem;
namespace core_detail = safetensors::detail;

namespace {

constexpr std::uint64_t default_shard_size = 5'000'000'000;
constexpr std::uint64_t max_index_bytes = 100'000'000;  // the reader's default header limit

std::string renamed(const fs::path& input) {
  std::string stem = input.stem().string();
  if (auto at = stem.find("pytorch_model"); at != std::string::npos) stem.replace(at, 13, "model");
  return stem + ".safetensors";
}

bool is_weight_file(const fs::path& p) {
  static const std::set<std::string> exts{".bin",         ".pt", ".pth",    ".ckpt",
                                          ".safetensors", ".h5", ".msgpack"};
  std::string name = p.filename().string();
  return exts.count(p.extension().string()) || name.ends_with(".index.json");
}

/// pytorch_model.bin.index.json: the shard files of its weight_map, validated, in name order.
/// Read like every index: the core's bounded file reader and strict JSON field reader.
result<std::vector<fs::path>> torch_index_shards(const fs::path& index) {
  const auto text = ST_TRY(core_detail::read_small_file(index, max_index_bytes));
  const auto doc =
      ST_TRY(core_detail::json_document::parse(text, index.string(), errc::invalid_index));
  const auto map_value = ST_TRY(doc.root().required("weight_map"));
  const auto map = ST_TRY(map_value.object());
  std::set<std::string> files;
  for (const auto& [tensor, value] : map.members()) {
    const auto file = ST_TRY(value.string());
    if (file.empty() || file.find('/') != std::string_view::npos ||
        file.find('\\') != std::string_view::npos || file == "." || file == ".." ||
        file.find('\0') != std::string_view::npos) {
      return tl::unexpected(
          value.bad(fmt::format("shard name '{}' must be a plain file name in the folder",
                                core_detail::ascii_escaped(file))));
    }
    files.emplace(file);
  }
  if (files.empty()) return tl::unexpected(map.bad("is empty"));
  std::vector<fs::path> out;
  for (const auto& f : files) out.push_back(index.parent_path() / f);
  return out;
}

result<void> plan_folder(const fs::path& input, const fs::path& output, const convert_options& opts,
                         output_plan& p) {
  p.dir = output.empty() ? input : output;
  p.sharded = true;
  p.max_shard_size = opts.max_shard_size.value_or(default_shard_size);
  if (fs::exists(input / "pytorch_model.bin.index.json")) {
    p.torch_inputs = ST_TRY(torch_index_shards(input / "pytorch_model.bin.index.json"));
    p.one_to_one = !opts.max_shard_size;
    p.sharded = !p.one_to_one;
  } else if (fs::exists(input / "pytorch_model.bin")) {
    p.torch_inputs = {input / "pytorch_model.bin"};
  } else if (fs::exists(input / "model.safetensors") ||
             fs::exists(input / "model.safetensors.index.json")) {
    p.safetensors_input = true;
  } else {
    return fail(errc::invalid_argument,
                fmt::format("{}: no pytorch_model.bin, pytorch_model.bin.index.json or "
                            "model.safetensors in this folder",
                            input.string()));
  }
  std::error_code ec;
  bool same = fs::exists(p.dir) && fs::equivalent(input, p.dir, ec);
  if (opts.copy_other_files && !same)
    for (const auto& e : fs::directory_iterator(input, ec))
      if (e.is_regular_file() && !is_weight_file(e.path())) p.copies.push_back(e.path());
  std::sort(p.copies.begin(), p.copies.end());
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

/// Outputs that exist already (refused without force).
std::vector<fs::path> collisions(const output_plan& p) {
  std::vector<fs::path> out;
  if (!p.sharded && !p.one_to_one) {
    if (fs::exists(p.file)) out.push_back(p.file);
  } else if (fs::is_directory(p.dir)) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(p.dir, ec)) {
      std::string name = e.path().filename().string();
      if (name == p.prefix + ".safetensors" || name == p.prefix + ".safetensors.index.json" ||
          (name.starts_with(p.prefix + "-") && name.ends_with(".safetensors") &&
           name.find("-of-") != std::string::npos))
        out.push_back(e.path());
    }
  }
  for (const auto& c : p.copies)
    if (fs::exists(p.dir / c.filename())) out.push_back(p.dir / c.filename());
  return out;
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
  ST_TRY(fs::is_directory(input, ec) ? plan_folder(input, output, opts, p)
                                     : plan_file(input, output, opts, p));

  if (!opts.force) {
    auto existing = collisions(p);
    if (!existing.empty())
      return fail(
          errc::invalid_argument,
          fmt::format("{} already exists (use --force to overwrite)", existing.front().string()));
  }
  return p;
}

}  // namespace safetensors::torch::detail
