#include "safetensors/sharded.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "atomic_file.hpp"
#include "write_plan.hpp"

namespace safetensors {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view index_suffix = ".safetensors.index.json";

error index_error(const fs::path& index, std::string what) {
  return error{errc::invalid_index, fmt::format("[checkpoint] '{}': {}", index.string(), what)};
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

result<std::string> read_small_file(const fs::path& p, std::uint64_t limit) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) return fail(errc::io, fmt::format("[checkpoint] cannot read '{}': {}", p.string(), ec.message()));
  if (size > limit) {
    return fail(errc::invalid_index, fmt::format("[checkpoint] '{}' is {} bytes, above the limit of {}",
                                                 p.string(), size, limit));
  }
  std::ifstream in(p, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) {
    return fail(errc::io, fmt::format("[checkpoint] cannot read '{}'", p.string()));
  }
  return text;
}

struct parsed_index {
  std::map<std::string, std::string, std::less<>> weight_map;  // tensor -> shard file
  std::optional<std::uint64_t> total_size;
};

result<void> parse_metadata(simdjson::dom::element value, const fs::path& p, parsed_index& out) {
  simdjson::dom::object meta;
  if (value.get_object().get(meta)) return tl::unexpected(index_error(p, "\"metadata\" is not an object"));
  std::set<std::string_view> seen;
  for (auto field : meta) {
    if (!seen.insert(field.key).second) {
      return tl::unexpected(index_error(p, fmt::format("duplicate key `{}` in \"metadata\"", field.key)));
    }
    if (field.key != "total_size") continue;
    std::uint64_t total = 0;
    if (field.value.get_uint64().get(total)) {
      return tl::unexpected(index_error(p, "\"metadata.total_size\" is not an unsigned integer"));
    }
    out.total_size = total;
  }
  return {};
}

result<void> parse_weight_map(simdjson::dom::element value, const fs::path& p, parsed_index& out) {
  simdjson::dom::object map;
  if (value.get_object().get(map)) return tl::unexpected(index_error(p, "\"weight_map\" is not an object"));
  for (auto field : map) {
    std::string_view shard;
    if (field.value.get_string().get(shard)) {
      return tl::unexpected(index_error(p, fmt::format("weight_map entry `{}` is not a string", field.key)));
    }
    if (!out.weight_map.emplace(std::string(field.key), std::string(shard)).second) {
      return tl::unexpected(index_error(p, fmt::format("tensor `{}` appears twice in the weight_map", field.key)));
    }
  }
  if (out.weight_map.empty()) return tl::unexpected(index_error(p, "the weight_map is empty"));
  return {};
}

result<parsed_index> parse_index(const fs::path& p, std::uint64_t limit) {
  auto text = read_small_file(p, limit);
  if (!text) return tl::unexpected(text.error());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto e = parser.parse(simdjson::padded_string(*text)).get(root)) {
    return tl::unexpected(index_error(p, fmt::format("invalid JSON: {}", simdjson::error_message(e))));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return tl::unexpected(index_error(p, "the index is not a JSON object"));
  parsed_index out;
  bool has_map = false, has_meta = false;
  for (auto field : obj) {
    if (field.key == "metadata") {
      if (std::exchange(has_meta, true)) return tl::unexpected(index_error(p, "duplicate key `metadata`"));
      if (auto r = parse_metadata(field.value, p, out); !r) return tl::unexpected(r.error());
    } else if (field.key == "weight_map") {
      if (std::exchange(has_map, true)) return tl::unexpected(index_error(p, "duplicate key `weight_map`"));
      if (auto r = parse_weight_map(field.value, p, out); !r) return tl::unexpected(r.error());
    }
  }
  if (!has_map) return tl::unexpected(index_error(p, "no \"weight_map\""));
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
  if (ec) return fail(errc::io, fmt::format("[checkpoint] cannot list '{}': {}", dir.string(), ec.message()));
  if (indexes.size() == 1) return indexes.front();
  if (indexes.empty() && files.size() == 1) return files.front();
  return fail(errc::io, fmt::format("[checkpoint] '{}' holds no model.safetensors and no single "
                                    "*.safetensors(.index.json) file ({} index files, {} safetensors files)",
                                    dir.string(), indexes.size(), files.size()));
}

}  // namespace

struct checkpoint::builder {
  // Opens every shard the index names and checks that each holds exactly its weight_map entries.
  static result<void> load_shards(checkpoint& cp, const fs::path& index_path, const parsed_index& index,
                                  const open_options& opts) {
    std::set<std::string_view> shard_names;
    for (const auto& [tensor, shard] : index.weight_map) shard_names.insert(shard);
    std::map<std::string_view, std::string_view> seen;  // tensor -> shard holding it
    for (auto shard : shard_names) {
      if (auto r = check_shard_name(shard, index_path); !r) return r;
    }
    const auto dir = index_path.parent_path();
    for (auto shard : shard_names) {
      const auto full = dir / fs::path(std::string(shard));
      if (!fs::is_regular_file(full)) {
        return tl::unexpected(index_error(index_path, fmt::format("shard `{}` does not exist", shard)));
      }
      auto f = file::open(full, opts);
      if (!f) return tl::unexpected(f.error());
      for (const auto& t : f->tensors()) {
        if (auto r = check_membership(index_path, index, seen, t.name, shard); !r) return r;
      }
      cp.shards_.push_back(std::move(*f));
    }
    for (const auto& [tensor, shard] : index.weight_map) {
      if (!seen.count(tensor)) {
        return tl::unexpected(index_error(index_path, fmt::format(
            "tensor `{}` is assigned to shard `{}` but missing from it", tensor, shard)));
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
      return tl::unexpected(index_error(index_path, fmt::format("tensor `{}` appears in shards `{}` and `{}`",
                                                                tensor, prev->second, shard)));
    }
    if (it == index.weight_map.end()) {
      return tl::unexpected(index_error(index_path, fmt::format(
          "tensor `{}` in shard `{}` is not in the weight_map", tensor, shard)));
    }
    if (it->second != shard) {
      return tl::unexpected(index_error(index_path, fmt::format(
          "tensor `{}` is in shard `{}` but the weight_map assigns it to `{}`", tensor, shard, it->second)));
    }
    return {};
  }

  static void build_entries(checkpoint& cp) {
    for (std::size_t s = 0; s < cp.shards_.size(); ++s) {
      for (const auto& t : cp.shards_[s].tensors()) {
        cp.by_name_.emplace(t.name, cp.entries_.size());
        cp.entries_.push_back(entry{&t, s});
      }
    }
  }
};

result<checkpoint> checkpoint::open(const fs::path& path, const open_options& opts) {
  fs::path target = path;
  if (fs::is_directory(path)) {
    auto resolved = resolve_folder(path);
    if (!resolved) return tl::unexpected(resolved.error());
    target = *resolved;
  }
  checkpoint cp;
  if (!ends_with(target.filename().string(), ".json")) {
    auto f = file::open(target, opts);
    if (!f) return tl::unexpected(f.error());
    cp.shards_.push_back(std::move(*f));
  } else {
    auto index = parse_index(target, opts.max_header_size);
    if (!index) return tl::unexpected(index.error());
    if (auto r = builder::load_shards(cp, target, *index, opts); !r) return tl::unexpected(r.error());
    cp.index_path_ = target;
  }
  builder::build_entries(cp);
  return cp;
}

const checkpoint::entry* checkpoint::find(std::string_view name) const noexcept {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

result<tensor> checkpoint::get(std::string_view name) const {
  const auto* e = find(name);
  if (e == nullptr) {
    const auto where = is_sharded() ? index_path_ : shards_.front().path();
    return fail(errc::tensor_not_found, fmt::format("[checkpoint] tensor `{}` not found in '{}'", name, where.string()));
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
                                                   const std::vector<std::uint64_t>& sizes, std::uint64_t max) {
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

std::string index_json(const std::vector<std::vector<std::size_t>>& groups, std::span<const tensor_source> tensors,
                       const std::vector<std::string>& names, std::uint64_t total) {
  std::map<std::string_view, std::string_view> weight_map;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (auto i : groups[g]) weight_map.emplace(tensors[i].name, names[g]);
  }
  json_writer w;
  w.begin_object().key("metadata").begin_object().key("total_size").value(total).end_object();
  w.key("weight_map").begin_object();
  for (const auto& [tensor, shard] : weight_map) w.key(tensor).value(shard);
  w.end_object().end_object();
  return w.take();
}

}  // namespace

result<std::vector<fs::path>> write_sharded(const fs::path& dir, std::span<const tensor_source> tensors,
                                            const metadata_map& metadata, const shard_options& opts) {
  if (opts.max_shard_size == 0) return fail(errc::invalid_argument, "[write_sharded] max_shard_size is 0");
  if (opts.prefix.empty() || opts.prefix.find('/') != std::string::npos) {
    return fail(errc::invalid_argument, fmt::format("[write_sharded] invalid prefix `{}`", opts.prefix));
  }
  auto sizes = detail::source_sizes(tensors);
  if (!sizes) return tl::unexpected(sizes.error());
  const auto groups = split_shards(detail::writer_order(tensors), *sizes, opts.max_shard_size);
  if (groups.size() <= 1) {
    const auto p = dir / (opts.prefix + ".safetensors");
    if (auto r = write_file(p, tensors, metadata, opts.write); !r) return tl::unexpected(r.error());
    return std::vector<fs::path>{p};
  }
  std::vector<std::vector<tensor_source>> shards;
  std::vector<std::string> names;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& shard = shards.emplace_back();
    for (auto i : groups[g]) shard.push_back(tensors[i]);
    names.push_back(fmt::format("{}-{:05d}-of-{:05d}.safetensors", opts.prefix, g + 1, groups.size()));
    // Every header is checked before the first byte is written.
    if (auto plan = plan_header(shard, metadata, opts.write); !plan) return tl::unexpected(plan.error());
  }
  // Every shard and the index are complete (fsynced, checked) under temp names before the first
  // one is renamed into place: a failure on the way leaves the folder as it was.
  std::vector<detail::atomic_file> prepared;
  std::vector<fs::path> written;
  std::uint64_t total = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto f = detail::write_prepared(dir / names[g], shards[g], metadata, opts.write);
    if (!f) return tl::unexpected(f.error());
    prepared.push_back(std::move(*f));
    written.push_back(dir / names[g]);
    for (auto i : groups[g]) total += (*sizes)[i];
  }
  const auto index_path = dir / (opts.prefix + std::string(index_suffix));
  auto index = detail::atomic_file::prepared_text(index_path, index_json(groups, tensors, names, total), opts.write.fsync);
  if (!index) return tl::unexpected(index.error());
  prepared.push_back(std::move(*index));
  written.push_back(index_path);
  for (auto& f : prepared)
    if (auto r = f.publish(); !r) return tl::unexpected(r.error());
  return written;
}

}  // namespace safetensors
