#include "safetensors/sharded.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/json_fields.hpp"
#include "core/mapped_file.hpp"
#include "core/shard_set.hpp"
#include "core/try.hpp"
#include "core/write_plan.hpp"

namespace safetensors {
namespace fs = std::filesystem;
namespace {

using detail::index_suffix;

error index_error(const fs::path& index, std::string what) {
  return error{errc::invalid_index, fmt::format("'{}': {}", index.string(), what)};
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct parsed_index {
  std::map<std::string, std::string, std::less<>> weight_map;  // tensor -> shard file
  std::optional<std::uint64_t> total_size;
};

// Unknown fields are ignored (tools add their own to "metadata"); duplicate keys are refused
// by the reader, in "weight_map" as anywhere else.
result<parsed_index> parse_index(const fs::path& p, std::uint64_t limit) {
  const auto text = ST_TRY(detail::read_small_file(p, limit));
  const auto doc = ST_TRY(detail::json_document::parse(text, p.string(), errc::invalid_index));
  const auto root = doc.root();
  parsed_index out;
  if (const auto meta = root.find("metadata")) {
    const auto fields = ST_TRY(meta->object());
    if (const auto total = fields.find("total_size")) out.total_size = ST_TRY(total->u64());
  }
  const auto map_value = ST_TRY(root.required("weight_map"));
  const auto map = ST_TRY(map_value.object());
  for (const auto& [tensor, shard] : map.members()) {
    out.weight_map.emplace(std::string(tensor), std::string(ST_TRY(shard.string())));
  }
  if (out.weight_map.empty()) return tl::unexpected(map.bad("is empty"));
  return out;
}

// Shard names must stay inside the index's folder: relative, no "..", no backslashes, no NUL.
// The check is lexical on purpose: Hugging Face cache snapshots are symlinks into ../blobs.
result<void> check_shard_name(std::string_view name, const fs::path& index) {
  auto bad = [&](std::string_view why) {
    return tl::unexpected(index_error(index, fmt::format("shard path `{}` {}", name, why)));
  };
  if (name.empty()) return bad("is empty");
  if (name.front() == '/') return bad("is absolute");
  if (name.find('\\') != std::string_view::npos) return bad("contains a backslash");
  if (name.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto end = std::min(name.find('/', start), name.size());
    if (name.substr(start, end - start) == "..") return bad("leaves the folder (`..`)");
    start = end + 1;
  }
  return {};
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
  static result<void> load_shards(checkpoint& cp, const fs::path& index_path,
                                  const parsed_index& index, const open_options& opts) {
    std::set<std::string_view> shard_names;
    for (const auto& [tensor, shard] : index.weight_map) shard_names.insert(shard);
    std::map<std::string_view, std::string_view> seen;  // tensor -> shard holding it
    for (auto shard : shard_names) {
      ST_TRY(check_shard_name(shard, index_path));
    }
    const auto dir = index_path.parent_path();
    for (auto shard : shard_names) {
      const auto full = dir / fs::path(std::string(shard));
      if (!fs::is_regular_file(full)) {
        return tl::unexpected(
            index_error(index_path, fmt::format("shard `{}` does not exist", shard)));
      }
      auto f = ST_TRY(file::open(full, opts));
      for (const auto& t : f.tensors())
        ST_TRY(check_membership(index_path, index, seen, t.name, shard));
      cp.shards_.push_back(std::move(f));
    }
    for (const auto& [tensor, shard] : index.weight_map) {
      if (!seen.count(tensor)) {
        return tl::unexpected(index_error(
            index_path, fmt::format("tensor `{}` is assigned to shard `{}` but missing from it",
                                    tensor, shard)));
      }
    }
    cp.declared_total_size_ = index.total_size;
    return {};
  }

  static result<void> check_membership(const fs::path& index_path, const parsed_index& index,
                                       std::map<std::string_view, std::string_view>& seen,
                                       std::string_view tensor, std::string_view shard) {
    const auto it = index.weight_map.find(tensor);
    if (auto [prev, fresh] = seen.emplace(tensor, shard); !fresh) {
      return tl::unexpected(index_error(
          index_path,
          fmt::format("tensor `{}` appears in shards `{}` and `{}`", tensor, prev->second, shard)));
    }
    if (it == index.weight_map.end()) {
      return tl::unexpected(index_error(
          index_path,
          fmt::format("tensor `{}` in shard `{}` is not in the weight_map", tensor, shard)));
    }
    if (it->second != shard) {
      return tl::unexpected(index_error(
          index_path,
          fmt::format("tensor `{}` is in shard `{}` but the weight_map assigns it to `{}`", tensor,
                      shard, it->second)));
    }
    return {};
  }

  // A single file is found through its header's own index; only a sharded set needs one over
  // all shards (names are unique across shards: load_shards checked that).
  static void build_entries(checkpoint& cp) {
    std::size_t total = 0;
    for (const auto& f : cp.shards_) total += f.tensors().size();
    cp.entries_.reserve(total);
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
    const auto index = ST_TRY(parse_index(target, opts.max_header_size));
    ST_TRY(builder::load_shards(cp, target, index, opts));
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
