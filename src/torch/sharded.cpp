// Sharded PyTorch checkpoints: the index is read and checked by the core's shard_index, the
// shards are opened by open_torch_checkpoint; resolve_checkpoint picks the format of a folder.
#include "safetensors/torch/sharded.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/shard_index.hpp"
#include "core/try.hpp"

namespace safetensors::torch {
namespace fs = std::filesystem;
namespace {

constexpr std::uint64_t max_index_bytes = 100'000'000;  // the reader's default header limit
constexpr std::string_view index_suffix = ".index.json";
constexpr std::string_view safetensors_index_suffix = ".safetensors.index.json";

bool is_torch_weight_name(std::string_view name) {
  return name.ends_with(".bin") || name.ends_with(".pt") || name.ends_with(".pth");
}

bool is_torch_index_name(std::string_view name) {
  return name.ends_with(index_suffix) && !name.ends_with(safetensors_index_suffix) &&
         is_torch_weight_name(name.substr(0, name.size() - index_suffix.size()));
}

/// The weight files of a folder, by format.
struct folder_weights {
  bool safetensors = false;
  std::optional<fs::path> torch;  ///< the torch file or index to open
};

folder_weights scan_folder(const fs::path& dir) {
  folder_weights w;
  std::vector<fs::path> torch_indexes, torch_files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    // Not only regular files: an index that is a FIFO or a dangling link fails when opened
    // (io), instead of silently picking other weights.
    if (e.is_directory(ec) || name.front() == '.') continue;
    if (name.ends_with(".safetensors") || name.ends_with(safetensors_index_suffix))
      w.safetensors = true;
    if (is_torch_index_name(name)) torch_indexes.push_back(e.path());
    if (is_torch_weight_name(name)) torch_files.push_back(e.path());
  }
  for (const char* name : {"pytorch_model.bin.index.json", "pytorch_model.bin"}) {
    if (fs::exists(fs::symlink_status(dir / name, ec))) {
      w.torch = dir / name;
      return w;
    }
  }
  if (torch_indexes.size() == 1)
    w.torch = torch_indexes.front();
  else if (torch_indexes.empty() && torch_files.size() == 1 && !w.safetensors)
    w.torch = torch_files.front();  // a lone training_args.bin beside safetensors is no model
  return w;
}

error wrong_format(const fs::path& path, checkpoint_format wanted) {
  return error{errc::invalid_argument,
               fmt::format("'{}': holds no {} checkpoint", path.string(), format_name(wanted))};
}

}  // namespace

std::string_view format_name(checkpoint_format f) noexcept {
  return f == checkpoint_format::pytorch ? "pytorch" : "safetensors";
}

std::optional<checkpoint_format> format_from_name(std::string_view name) noexcept {
  if (name == "safetensors") return checkpoint_format::safetensors;
  if (name == "pytorch") return checkpoint_format::pytorch;
  return std::nullopt;
}

result<resolved_checkpoint> resolve_checkpoint(const fs::path& path,
                                               std::optional<checkpoint_format> wanted,
                                               checkpoint_format preferred) {
  std::error_code ec;
  resolved_checkpoint r;
  r.path = path;
  if (fs::is_directory(path, ec)) {
    const auto w = scan_folder(path);
    const bool both = w.safetensors && w.torch;
    const bool defaulted = both && !wanted;  // the note below says so
    if (defaulted) wanted = preferred;
    if (wanted == checkpoint_format::pytorch || (!wanted && w.torch && !w.safetensors)) {
      if (!w.torch) return tl::unexpected(wrong_format(path, checkpoint_format::pytorch));
      r.format = checkpoint_format::pytorch;
      r.path = *w.torch;
    } else if (wanted == checkpoint_format::safetensors && !w.safetensors) {
      return tl::unexpected(wrong_format(path, checkpoint_format::safetensors));
    }
    if (defaulted) {
      r.note = fmt::format(
          "{}: the folder holds safetensors and PyTorch ({}) weights; reading {} "
          "(choose with --format safetensors|pytorch)",
          path.string(), w.torch->filename().string(), format_name(preferred));
    }
    return r;
  }
  const auto name = path.filename().string();
  if (name.ends_with(index_suffix))
    r.format = name.ends_with(safetensors_index_suffix) ? checkpoint_format::safetensors
                                                        : checkpoint_format::pytorch;
  else if (fs::is_regular_file(path, ec) && looks_like_torch_file(path))
    r.format = checkpoint_format::pytorch;
  if (wanted && *wanted != r.format) return tl::unexpected(wrong_format(path, *wanted));
  return r;
}

result<std::vector<fs::path>> index_shard_files(const fs::path& index) {
  const auto idx = ST_TRY(safetensors::detail::shard_index::read(index, max_index_bytes));
  std::vector<fs::path> out;
  for (const auto& shard : ST_TRY(idx.shard_files())) out.push_back(index.parent_path() / shard);
  return out;
}

result<sharded_torch_checkpoint> sharded_torch_checkpoint::open(const fs::path& path,
                                                                const torch_open_options& opts) {
  const auto where = ST_TRY(resolve_checkpoint(path, checkpoint_format::pytorch));
  sharded_torch_checkpoint ck;
  if (!where.path.filename().string().ends_with(index_suffix)) {
    ck.shards_.push_back(ST_TRY(open_torch_checkpoint(where.path, opts)));
  } else {
    auto index = ST_TRY(safetensors::detail::shard_index::read(where.path, max_index_bytes));
    const auto dir = where.path.parent_path();
    for (const auto& shard : ST_TRY(index.shard_files())) {
      auto c = ST_TRY(open_torch_checkpoint(dir / fs::path(shard), opts));
      for (const auto& t : c.tensors()) ST_TRY(index.claim(t.name, shard));
      ck.shards_.push_back(std::move(c));
    }
    ST_TRY(index.all_claimed());
    ck.index_path_ = where.path;
    ck.declared_total_size_ = index.total_size();
  }
  for (std::size_t s = 0; s < ck.shards_.size(); ++s) {
    for (const auto& t : ck.shards_[s].tensors()) {
      ck.by_name_.emplace(t.name, ck.entries_.size());
      ck.entries_.push_back(entry{&t, s});
    }
  }
  return ck;
}

const sharded_torch_checkpoint::entry* sharded_torch_checkpoint::find(
    std::string_view name) const noexcept {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

std::uint64_t sharded_torch_checkpoint::total_size() const noexcept {
  std::uint64_t total = 0;
  for (const auto& e : entries_) total += e.tensor->nbytes();
  return total;
}

std::vector<std::string> sharded_torch_checkpoint::notes() const {
  std::vector<std::string> out;
  for (const auto& s : shards_)
    for (const auto& n : s.notes())
      out.push_back(fmt::format("{}: {}", s.path().filename().string(), n));
  return out;
}

}  // namespace safetensors::torch
