#include "core/shard_index.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "core/json_fields.hpp"
#include "core/mapped_file.hpp"
#include "core/try.hpp"

namespace safetensors::detail {
namespace fs = std::filesystem;
namespace {

/// "model-00002-of-00003.safetensors" -> ("model-", "-of-00003.safetensors"): the name around
/// its shard number; nullopt for a name without that pattern.
std::optional<std::pair<std::string, std::string>> numbered_pattern(std::string_view name) {
  const auto of = name.rfind("-of-");
  if (of == std::string_view::npos) return std::nullopt;
  auto digits_from = [&](std::size_t at) {
    std::size_t end = at;
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    return end;
  };
  const auto total_end = digits_from(of + 4);
  if (total_end == of + 4) return std::nullopt;
  auto start = of;
  while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9') --start;
  if (start == of || start == 0 || name[start - 1] != '-') return std::nullopt;
  return std::pair{std::string(name.substr(0, start)), std::string(name.substr(of))};
}

}  // namespace

error shard_index::problem(std::string what) const {
  return error{errc::invalid_index, fmt::format("'{}': {}", path_.string(), what)};
}

// Duplicate keys are refused by the reader, in "weight_map" as anywhere else.
result<shard_index> shard_index::read(const fs::path& path, std::uint64_t limit) {
  return parse(ST_TRY(read_small_file(path, limit)), path);
}

result<shard_index> shard_index::parse(std::string_view text, const fs::path& path) {
  const auto doc = ST_TRY(json_document::parse(text, path.string(), errc::invalid_index));
  const auto root = doc.root();
  shard_index out;
  out.path_ = path;
  if (const auto meta = root.find("metadata")) {
    const auto fields = ST_TRY(meta->object());
    if (const auto total = fields.find("total_size")) out.total_size_ = ST_TRY(total->u64());
  }
  const auto map_value = ST_TRY(root.required("weight_map"));
  const auto map = ST_TRY(map_value.object());
  for (const auto& [tensor, shard] : map.members())
    out.weight_map_.emplace(std::string(tensor), std::string(ST_TRY(shard.string())));
  if (out.weight_map_.empty()) return tl::unexpected(map.bad("is empty"));
  return out;
}

result<std::vector<std::string>> shard_index::shard_names() const {
  std::set<std::string_view> names;
  for (const auto& [tensor, shard] : weight_map_) names.insert(shard);
  for (auto name : names) {
    auto bad = [&](std::string_view why) {
      return tl::unexpected(problem(fmt::format("shard path `{}` {}", name, why)));
    };
    if (name.empty()) return bad("is empty");
    if (name.front() == '/') return bad("is absolute");
    if (name.find('\\') != std::string_view::npos) return bad("contains a backslash");
    if (name.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
    for (std::size_t start = 0; start <= name.size();) {
      const auto end = std::min(name.find('/', start), name.size());
      if (name.substr(start, end - start) == "..") return bad("leaves the folder (`..`)");
      start = end + 1;
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

result<std::vector<std::string>> shard_index::shard_files() const {
  auto out = ST_TRY(shard_names());
  for (const auto& name : out) {
    std::error_code ec;
    if (!fs::is_regular_file(path_.parent_path() / fs::path(name), ec))
      return tl::unexpected(problem(fmt::format("shard `{}` does not exist", name)));
  }
  // A numbered shard in the folder that the index does not name (model-00003-of-00003 beside
  // an index listing 1 and 2 of 3): the index and the folder disagree.
  std::set<std::pair<std::string, std::string>> patterns;
  for (const auto& name : out)
    if (auto p = numbered_pattern(name)) patterns.insert(*p);
  if (patterns.empty()) return out;
  std::error_code ec;
  std::vector<std::string> stray;
  for (const auto& e : fs::directory_iterator(path_.parent_path(), ec)) {
    const auto name = e.path().filename().string();
    const auto p = numbered_pattern(name);
    if (p && patterns.count(*p) && !std::binary_search(out.begin(), out.end(), name))
      stray.push_back(name);
  }
  if (!stray.empty()) {
    std::sort(stray.begin(), stray.end());
    return tl::unexpected(problem(fmt::format(
        "shard `{}` is in the folder but the weight_map names none of its tensors", stray[0])));
  }
  return out;
}

result<void> shard_index::claim(std::string_view tensor, std::string_view shard) {
  if (const auto prev = seen_.find(tensor); prev != seen_.end()) {
    return tl::unexpected(problem(
        fmt::format("tensor `{}` appears in shards `{}` and `{}`", tensor, prev->second, shard)));
  }
  seen_.emplace(std::string(tensor), std::string(shard));
  const auto it = weight_map_.find(tensor);
  if (it == weight_map_.end()) {
    return tl::unexpected(
        problem(fmt::format("tensor `{}` in shard `{}` is not in the weight_map", tensor, shard)));
  }
  if (it->second != shard) {
    return tl::unexpected(
        problem(fmt::format("tensor `{}` is in shard `{}` but the weight_map assigns it to `{}`",
                            tensor, shard, it->second)));
  }
  return {};
}

result<void> shard_index::all_claimed() const {
  for (const auto& [tensor, shard] : weight_map_) {
    if (!seen_.count(tensor)) {
      return tl::unexpected(problem(
          fmt::format("tensor `{}` is assigned to shard `{}` but missing from it", tensor, shard)));
    }
  }
  return {};
}

}  // namespace safetensors::detail
