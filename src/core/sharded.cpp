#include "safetensors/sharded.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/mapped_file.hpp"
#include "core/shard_index.hpp"
#include "core/shard_set.hpp"
#include "core/try.hpp"
#include "core/write_plan.hpp"

namespace safetensors {
namespace fs = std::filesystem;
namespace {

using detail::index_suffix;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The file to open for a folder: model.safetensors, model.safetensors.index.json, or the only
// *.safetensors.index.json / *.safetensors file in it.
result<fs::path> resolve_folder(const fs::path& dir) {
  for (const char* name : {"model.safetensors", "model.safetensors.index.json"}) {
    if (fs::is_regular_file(dir / name)) return dir / name;
  }
  std::vector<fs::path> indexes, files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (!e.is_regular_file() || name.front() == '.') continue;
    if (ends_with(name, index_suffix)) indexes.push_back(e.path());
    if (ends_with(name, ".safetensors")) files.push_back(e.path());
  }
  if (ec)
    return fail(errc::io,
                fmt::format("'{}': cannot list the folder: {}", dir.string(), ec.message()));
  if (indexes.size() == 1) return indexes.front();
  if (indexes.empty() && files.size() == 1) return files.front();
  return fail(errc::io,
              fmt::format("'{}': holds no model.safetensors and no single "
                          "*.safetensors(.index.json) file ({} index files, {} safetensors files)",
                          dir.string(), indexes.size(), files.size()));
}

}  // namespace

struct checkpoint::builder {
  // Opens every shard the index names and checks that each holds exactly its weight_map entries.
  static result<void> load_shards(checkpoint& cp, detail::shard_index& index,
                                  const open_options& opts) {
    const auto dir = index.path().parent_path();
    for (const auto& shard : ST_TRY(index.shard_files())) {
      auto f = ST_TRY(file::open(dir / fs::path(shard), opts));
      for (const auto& t : f.tensors()) ST_TRY(index.claim(t.name, shard));
      cp.shards_.push_back(std::move(f));
    }
    ST_TRY(index.all_claimed());
    cp.declared_total_size_ = index.total_size();
    return {};
  }

  // A single file is found through its header's own index; only a sharded set needs one over
  // all shards (names are unique across shards: load_shards checked that).
  static void build_entries(checkpoint& cp) {
    std::size_t total = 0;
    for (const auto& f : cp.shards_) total += f.tensors().size();
    cp.entries_.reserve(total);
    detail::prefault_write(cp.entries_.data(), total * sizeof(entry));
    for (std::size_t s = 0; s < cp.shards_.size(); ++s) {
      for (const auto& t : cp.shards_[s].tensors()) cp.entries_.push_back(entry{&t, s});
    }
    if (cp.shards_.size() > 1) {
      cp.by_name_.build(cp.entries_.size(), [&cp](std::size_t i) -> std::string_view {
        return cp.entries_[i].info->name;
      });
    }
  }
};

result<checkpoint> checkpoint::open(const fs::path& path, const open_options& opts) {
  fs::path target = path;
  if (fs::is_directory(path)) {
    target = ST_TRY(resolve_folder(path));
  }
  checkpoint cp;
  if (!ends_with(target.filename().string(), ".json")) {
    cp.shards_.push_back(ST_TRY(file::open(target, opts)));
  } else {
    auto index = ST_TRY(detail::shard_index::read(target, opts.max_header_size));
    ST_TRY(builder::load_shards(cp, index, opts));
    cp.index_path_ = target;
  }
  builder::build_entries(cp);
  return cp;
}

const checkpoint::entry* checkpoint::find(std::string_view name) const noexcept {
  if (shards_.size() == 1) {
    const tensor_info* t = shards_.front().find(name);
    return t == nullptr ? nullptr : &entries_[t - shards_.front().tensors().data()];
  }
  const auto i = by_name_.find(
      name, [this](std::size_t k) -> std::string_view { return entries_[k].info->name; });
  return i == name_index::npos ? nullptr : &entries_[i];
}

result<tensor> checkpoint::get(std::string_view name) const {
  const auto* e = find(name);
  if (e == nullptr) {
    const auto where = is_sharded() ? index_path_ : shards_.front().path();
    return fail(errc::tensor_not_found,
                fmt::format("'{}': tensor `{}` not found", where.string(), name));
  }
  return shards_[e->shard].get(name);
}

const metadata_map& checkpoint::metadata() const noexcept {
  static const metadata_map none;
  return shards_.empty() ? none : shards_.front().metadata();
}

std::uint64_t checkpoint::total_size() const noexcept {
  std::uint64_t total = 0;
  for (const auto& e : entries_) total += e.info->nbytes();
  return total;
}

// ---- writing ------------------------------------------------------------------------------

namespace {

// Greedy split of the writer order: a shard closes when the next tensor would exceed the limit.
std::vector<std::vector<std::size_t>> split_shards(const std::vector<std::size_t>& order,
                                                   const std::vector<std::uint64_t>& sizes,
                                                   std::uint64_t max) {
  std::vector<std::vector<std::size_t>> groups;
  std::uint64_t current = 0;
  for (auto i : order) {
    if (groups.empty() || (!groups.back().empty() && sizes[i] > max - std::min(max, current))) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(i);
    current += sizes[i];
  }
  return groups;
}

}  // namespace

result<std::vector<fs::path>> write_sharded(const fs::path& dir,
                                            std::span<const tensor_source> tensors,
                                            const metadata_map& metadata,
                                            const shard_options& opts) {
  if (opts.max_shard_size == 0)
    return fail(errc::invalid_argument, "write sharded: max_shard_size is 0");
  if (opts.prefix.empty() || opts.prefix.find('/') != std::string::npos) {
    return fail(errc::invalid_argument,
                fmt::format("write sharded: invalid prefix `{}`", opts.prefix));
  }
  const auto sizes = ST_TRY(detail::source_sizes(tensors));
  const auto groups = split_shards(detail::writer_order(tensors), sizes, opts.max_shard_size);
  if (groups.size() <= 1) {
    const auto p = dir / (opts.prefix + ".safetensors");
    ST_TRY(write_file(p, tensors, metadata, opts.write));
    return std::vector<fs::path>{p};
  }
  detail::shard_set set(dir, opts.prefix, groups.size(), opts.write.fsync);
  std::vector<std::vector<tensor_source>> shards;
  for (const auto& group : groups) {
    auto& shard = shards.emplace_back();
    for (auto i : group) shard.push_back(tensors[i]);
    // Every header is checked before the first byte is written.
    ST_TRY(plan_header(shard, metadata, opts.write));
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto prepared =
        ST_TRY(detail::write_prepared(set.shard_path(g), shards[g], metadata, opts.write));
    std::vector<std::string_view> names;
    std::uint64_t bytes = 0;
    for (auto i : groups[g]) {
      names.push_back(tensors[i].name);
      bytes += sizes[i];
    }
    ST_TRY(set.add(std::move(prepared), names, bytes));
  }
  return set.publish();
}

}  // namespace safetensors
