// Pipeline output: a tensor set streamed into one file or a shard set, each file read back and
// compared with its sources before it is renamed into place.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/parallel.hpp"
#include "core/shard_set.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"
#include "core/write_plan.hpp"
#include "safetensors/pipeline.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/sharded.hpp"

namespace safetensors {
namespace fs = std::filesystem;
namespace {

struct progress_state {
  std::atomic<std::uint64_t> done = 0;
  std::uint64_t total = 0;
  const progress_fn* fn = nullptr;
  void add(std::uint64_t n) {
    const auto now = done += n;
    if (fn && *fn) (*fn)(now, total);
  }
};

std::vector<tensor_source> writer_sources(const tensor_set& set, progress_state& progress) {
  std::vector<tensor_source> out;
  out.reserve(set.tensors.size());
  for (const auto& s : set.tensors) {
    tensor_source t;
    t.name = s.name;
    t.type = s.type;
    t.shape = s.shape;
    const source_tensor* src = &s;
    if (s.read) {
      t.read = [src, &progress](std::uint64_t at, std::span<std::byte> dst) -> result<void> {
        ST_TRY(src->read(at, dst));
        progress.add(dst.size());
        return {};
      };
    } else {
      t.produce = [src, &progress](const byte_sink& sink) -> result<void> {
        return src->stream([&](std::span<const std::byte> c) -> result<void> {
          progress.add(c.size());
          return sink(c);
        });
      };
    }
    out.push_back(std::move(t));
  }
  return out;
}

/// Read-back check of every written file: each tensor's dtype, shape and bytes against its
/// source (pread into per-thread buffers: no mapping grows the resident set). Runs on each temp
/// file before it replaces its target, while the writer's fsync proceeds; tensors (and 4 MiB
/// pieces of large ones) are compared on every usable CPU.
class verifier {
 public:
  explicit verifier(const tensor_set& set) {
    for (const auto& s : set.tensors) by_name_.emplace(s.name, &s);
  }
  file_check check() {
    return [this](const fs::path& written) { return verify_file(written); };
  }
  /// After the last file: every source tensor was found in exactly one written file.
  result<void> all_seen() const {
    if (seen_ != by_name_.size())
      return fail(errc::invalid_checkpoint,
                  fmt::format("verify: the output holds {} tensors, {} were written", seen_,
                              by_name_.size()));
    return {};
  }

 private:
  static constexpr std::size_t block = 4u << 20;

  struct buffers {
    std::unique_ptr<std::byte[]> written = std::make_unique_for_overwrite<std::byte[]>(block);
    std::unique_ptr<std::byte[]> source = std::make_unique_for_overwrite<std::byte[]>(block);
  };
  /// One tensor, or bytes [at, at + length) of a tensor read from both sides with pread.
  struct piece {
    const tensor_info* info;
    const source_tensor* source;
    std::uint64_t at = 0, length = 0;
    bool whole = true;
  };

  result<void> verify_file(const fs::path& written) {
    open_options oo;
    oo.io = backend::pread;
    const auto out = ST_TRY(file::open(written, oo));
    std::vector<piece> pieces;
    for (const auto& info : out.tensors()) {
      const auto it = by_name_.find(info.name);
      if (it == by_name_.end())
        return fail(errc::invalid_checkpoint,
                    fmt::format("verify: tensor '{}' in the output has no source",
                                detail::ascii_escaped(info.name)));
      const source_tensor& s = *it->second;
      if (info.type != s.type || info.shape != s.shape)
        return fail(errc::invalid_checkpoint,
                    fmt::format("verify: tensor '{}' has another dtype or shape in the output",
                                detail::ascii_escaped(s.name)));
      if (s.read && info.nbytes() == s.nbytes) {
        for (std::uint64_t at = 0; at < s.nbytes; at += block)
          pieces.push_back({&info, &s, at, std::min<std::uint64_t>(block, s.nbytes - at), false});
      } else {
        pieces.push_back({&info, &s});
      }
      ++seen_;
    }
    std::atomic<std::size_t> next{0};
    std::mutex lock;
    std::optional<error> first;  // the first difference or read error stops every thread
    detail::run_on_threads(
        std::min<unsigned>(detail::usable_cpus(), static_cast<unsigned>(pieces.size())), [&] {
          buffers b;
          for (std::size_t k; (k = next.fetch_add(1)) < pieces.size();) {
            {
              std::lock_guard g(lock);
              if (first) return;
            }
            const auto r =
                pieces[k].whole ? compare(out, pieces[k], b) : compare_range(out, pieces[k], b);
            if (!r) {
              std::lock_guard g(lock);
              if (!first) first = r.error();
              return;
            }
          }
        });
    if (first) return tl::unexpected(*first);
    return {};
  }

  static error differs(const source_tensor& s, std::uint64_t at) {
    return {errc::invalid_checkpoint, fmt::format("verify: tensor '{}' differs near byte {}",
                                                  detail::ascii_escaped(s.name), at)};
  }

  /// Both sides pread: the common case (a contiguous run of a source file).
  static result<void> compare_range(const file& out, const piece& p, buffers& b) {
    const std::span<std::byte> theirs(b.source.get(), static_cast<std::size_t>(p.length));
    const std::span<std::byte> mine(b.written.get(), static_cast<std::size_t>(p.length));
    ST_TRY(p.source->read(p.at, theirs));
    ST_TRY(out.read_bytes(*p.info, p.at, mine));
    if (std::memcmp(mine.data(), theirs.data(), mine.size()) != 0)
      return tl::unexpected(differs(*p.source, p.at));
    return {};
  }

  /// A cast or gathered tensor: the source streams its bytes, compared in order.
  static result<void> compare(const file& out, const piece& p, buffers& b) {
    const tensor_info& info = *p.info;
    const source_tensor& s = *p.source;
    std::uint64_t at = 0;
    const auto same = [&](std::span<const std::byte> c) -> result<void> {
      for (std::size_t done = 0; done < c.size();) {
        if (at == info.nbytes())
          return fail(errc::invalid_checkpoint,
                      fmt::format("verify: tensor '{}' is longer in the source",
                                  detail::ascii_escaped(s.name)));
        const std::span<std::byte> mine(b.written.get(),
                                        static_cast<std::size_t>(std::min<std::uint64_t>(
                                            {block, c.size() - done, info.nbytes() - at})));
        ST_TRY(out.read_bytes(info, at, mine));
        if (std::memcmp(mine.data(), c.data() + done, mine.size()) != 0)
          return tl::unexpected(differs(s, at));
        at += mine.size();
        done += mine.size();
      }
      return {};
    };
    ST_TRY(s.stream(same));
    if (at != info.nbytes())
      return fail(errc::invalid_checkpoint, fmt::format("verify: tensor '{}' has extra bytes",
                                                        detail::ascii_escaped(s.name)));
    return {};
  }

  std::unordered_map<std::string_view, const source_tensor*> by_name_;
  std::size_t seen_ = 0;
};

result<void> check_options(const output_options& opts) {
  if (opts.alignment != 8 && opts.alignment != 64 && opts.alignment != 4096)
    return fail(errc::invalid_argument,
                fmt::format("alignment {} (use 8, 64 or 4096)", opts.alignment));
  return {};
}

std::uint64_t total_bytes(const tensor_set& set) {
  std::uint64_t total = 0;
  for (const auto& t : set.tensors) total += t.nbytes;
  return total;
}

result<void> refuse_existing(const std::vector<fs::path>& existing, const output_options& opts) {
  if (!opts.force && !existing.empty())
    return fail(errc::invalid_argument, fmt::format("{} already exists (use --force to overwrite)",
                                                    existing.front().string()));
  return {};
}

/// The companion files to copy beside outputs in `dir` (see output_options::companions_of),
/// refused when one exists already and !force.
result<std::vector<fs::path>> companions_to_copy(const output_options& opts, const fs::path& dir) {
  std::error_code ec;
  if (opts.companions_of.empty()) return std::vector<fs::path>{};
  fs::path folder = opts.companions_of;
  if (!fs::is_directory(folder, ec)) {
    if (!folder.filename().string().ends_with(".index.json")) return std::vector<fs::path>{};
    folder = folder.parent_path().empty() ? fs::path(".") : folder.parent_path();
  }
  if (fs::exists(dir, ec) && fs::equivalent(folder, dir, ec)) return std::vector<fs::path>{};
  auto files = companion_files(folder);
  std::vector<fs::path> existing;
  for (const auto& f : files)
    if (fs::exists(dir / f.filename(), ec)) existing.push_back(dir / f.filename());
  ST_TRY(refuse_existing(existing, opts));
  return files;
}

result<void> copy_companions(const std::vector<fs::path>& files, const fs::path& dir,
                             const output_options& opts, output_report& r) {
  for (const auto& f : files) {
    ST_TRY(copy_file_atomic(f, dir / f.filename(), opts.fsync));
    r.copied.push_back(dir / f.filename());
  }
  return {};
}

result<fs::path> make_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(errc::io, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  return dir;
}

/// keep_shards: output shard i holds the tensors of source shard i (source shards left empty by
/// the filters are skipped), published together with their index.
result<std::vector<fs::path>> write_by_source_shard(const tensor_set& set,
                                                    const std::vector<tensor_source>& sources,
                                                    const fs::path& dir, const write_options& w,
                                                    const output_options& opts) {
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < set.tensors.size(); ++i) {
    const auto g = set.tensors[i].shard;
    if (groups.size() <= g) groups.resize(g + 1);
    groups[g].push_back(i);
  }
  std::erase_if(groups, [](const auto& g) { return g.empty(); });
  if (groups.empty()) groups.emplace_back();
  std::vector<std::vector<tensor_source>> shards;
  for (const auto& group : groups) {
    auto& shard = shards.emplace_back();
    for (auto i : group) shard.push_back(sources[i]);
    ST_TRY(plan_header(shard, set.metadata, w));  // every header checked before the first byte
  }
  detail::shard_set out(dir, opts.prefix, groups.size(), opts.fsync);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto prepared = ST_TRY(detail::write_prepared(out.shard_path(g), shards[g], set.metadata, w));
    std::vector<std::string_view> names;
    std::uint64_t bytes = 0;
    for (auto i : groups[g]) {
      names.push_back(set.tensors[i].name);
      bytes += set.tensors[i].nbytes;
    }
    ST_TRY(out.add(std::move(prepared), names, bytes));
  }
  return out.publish();
}

}  // namespace

std::vector<fs::path> existing_outputs(const fs::path& dir, std::string_view prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  const std::string p(prefix);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == p + ".safetensors" || name == p + std::string(detail::index_suffix) ||
        (name.starts_with(p + "-") && name.ends_with(".safetensors") &&
         name.find("-of-") != std::string::npos &&
         name.find_first_not_of("0123456789", p.size() + 1) == p.size() + 6))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

result<output_report> write_checkpoint(const tensor_set& set, const fs::path& path,
                                       const output_options& opts) {
  ST_TRY(check_options(opts));
  std::error_code ec;
  if (fs::exists(path, ec)) ST_TRY(refuse_existing({path}, opts));
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const auto companions = ST_TRY(companions_to_copy(opts, dir));
  if (!path.parent_path().empty()) ST_TRY(make_folder(path.parent_path()));
  progress_state progress;
  progress.total = total_bytes(set);
  progress.fn = &opts.progress;
  const auto sources = writer_sources(set, progress);
  std::optional<verifier> check;
  if (opts.verify) check.emplace(set);
  write_options w;
  w.alignment = opts.alignment;
  w.fsync = opts.fsync;
  if (check) w.check = check->check();
  ST_TRY(safetensors::write_file(path, sources, set.metadata, w));
  if (check) ST_TRY(check->all_seen());
  output_report r;
  r.written = {path};
  ST_TRY(copy_companions(companions, dir, opts, r));
  r.tensors = set.tensors.size();
  r.bytes = progress.total;
  r.verified = opts.verify;
  return r;
}

result<output_report> write_shards(const tensor_set& set, const fs::path& dir,
                                   const output_options& opts) {
  ST_TRY(check_options(opts));
  const auto before = existing_outputs(dir, opts.prefix);
  ST_TRY(refuse_existing(before, opts));
  const auto companions = ST_TRY(companions_to_copy(opts, dir));
  ST_TRY(make_folder(dir));
  progress_state progress;
  progress.total = total_bytes(set);
  progress.fn = &opts.progress;
  const auto sources = writer_sources(set, progress);
  std::optional<verifier> check;
  if (opts.verify) check.emplace(set);
  shard_options so;
  so.max_shard_size = opts.max_shard_size;
  so.prefix = opts.prefix;
  so.write.alignment = opts.alignment;
  so.write.fsync = opts.fsync;
  if (check) so.write.check = check->check();
  output_report r;
  r.written = opts.keep_shards ? ST_TRY(write_by_source_shard(set, sources, dir, so.write, opts))
                               : ST_TRY(write_sharded(dir, sources, set.metadata, so));
  if (check) ST_TRY(check->all_seen());
  // The earlier set's files that the new one did not replace go, so that the folder holds
  // exactly one checkpoint of this prefix (a stale model-00003-of-00003 or model.safetensors
  // would contradict the new index, or shadow it).
  const std::set<fs::path> now(r.written.begin(), r.written.end());
  for (const auto& old : before)
    if (!now.count(old)) {
      std::error_code ec;
      if (fs::remove(old, ec)) r.removed.push_back(old);
    }
  if (opts.verify && r.written.size() > 1) {
    open_options headers;  // the index names exactly the shards written
    headers.header_only = true;
    ST_TRY(checkpoint::open(r.written.back(), headers));
  }
  ST_TRY(copy_companions(companions, dir, opts, r));
  r.tensors = set.tensors.size();
  r.bytes = progress.total;
  r.verified = opts.verify;
  return r;
}

}  // namespace safetensors
