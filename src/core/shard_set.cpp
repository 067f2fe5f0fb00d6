#include "core/shard_set.hpp"

#include <fmt/format.h>

#include "core/text_util.hpp"
#include "core/try.hpp"
#include "safetensors/json_writer.hpp"

namespace safetensors::detail {
namespace fs = std::filesystem;

shard_set::shard_set(fs::path dir, std::string prefix, std::size_t count, bool fsync)
    : dir_(std::move(dir)), prefix_(std::move(prefix)), count_(count), fsync_(fsync) {}

fs::path shard_set::shard_path(std::size_t i) const {
  return dir_ / fmt::format("{}-{:05d}-of-{:05d}.safetensors", prefix_, i + 1, count_);
}

fs::path shard_set::index_path() const { return dir_ / (prefix_ + std::string(index_suffix)); }

result<void> shard_set::add(atomic_file prepared, std::span<const std::string_view> names,
                            std::uint64_t bytes) {
  if (prepared_.size() >= count_) {
    return fail(errc::invalid_argument,
                fmt::format("{}: more than {} shards", index_path().string(), count_));
  }
  const std::string file = shard_path(prepared_.size()).filename().string();
  for (auto name : names) {
    if (auto [it, fresh] = weight_map_.emplace(std::string(name), file); !fresh) {
      return fail(errc::duplicate_key,
                  fmt::format("{}: tensor '{}' is in two shards ('{}' and '{}')",
                              index_path().string(), ascii_escaped(name), it->second, file));
    }
  }
  prepared_.push_back(std::move(prepared));
  total_ += bytes;
  return {};
}

std::string shard_set::index_json() const {
  json_writer w;
  w.begin_object().key("metadata").begin_object().key("total_size").value(total_).end_object();
  w.key("weight_map").begin_object();
  for (const auto& [tensor, shard] : weight_map_) w.key(tensor).value(shard);
  w.end_object().end_object();
  return w.take();
}

result<std::vector<fs::path>> shard_set::publish() {
  if (prepared_.size() != count_) {
    return fail(errc::invalid_argument,
                fmt::format("{}: {} of {} shards written", index_path().string(), prepared_.size(),
                            count_));
  }
  auto index = ST_TRY(atomic_file::prepared_text(index_path(), index_json(), fsync_));
  std::vector<fs::path> written;
  for (std::size_t i = 0; i < count_; ++i) {
    ST_TRY(prepared_[i].publish());
    written.push_back(shard_path(i));
  }
  ST_TRY(index.publish());
  written.push_back(index_path());
  prepared_.clear();
  return written;
}

}  // namespace safetensors::detail
