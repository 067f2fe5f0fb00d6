// Pipeline output: a tensor set streamed into one file or a shard set, each file read back and
// compared with checksums of the bytes written before it is renamed into place.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/parallel.hpp"
#include "core/piece_sums.hpp"
#include "core/shard_set.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"
#include "core/write_follower.hpp"
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

/// Verification of every written file: while the writer streams the tensors out, a checksum of
/// each 4 MiB piece of each tensor's bytes (detail::piece_sums) as handed to the file, and a
/// follower thread (detail::write_follower) reads each piece back as soon as the file holds it,
/// from the page cache, and checksums it. Then each temp file, before it replaces its target and
/// while the writer's fsync proceeds, is opened by the strict reader (header, dtypes, shapes,
/// offsets: every source tensor exactly once in the output); every piece at the offset the
/// strict reader gives is compared: with the follower's checksum when it read that very range,
/// otherwise read back now (pread into per-thread buffers: no mapping grows the resident set) on
/// every usable CPU. Each output byte is read back once; the sources are not read again.
class verifier {
 public:
  explicit verifier(const tensor_set& set)
      : set_(set), sums_(set.tensors.size()), sizes_(sizes_of(set)), follower_(by_name_, sizes_) {
    for (std::size_t i = 0; i < set.tensors.size(); ++i) by_name_.emplace(set.tensors[i].name, i);
    seen_.resize(set.tensors.size());
  }
  /// Tensor i's bytes [at, at + bytes.size()) as the writer hands them to the file.
  result<void> written(std::size_t i, std::uint64_t at, std::span<const std::byte> bytes) {
    if (at != sums_[i].length)  // the writer streams every tensor in order, once
      return fail(errc::invalid_checkpoint,
                  fmt::format("verify: tensor '{}' was written out of order",
                              detail::ascii_escaped(set_.tensors[i].name)));
    hasher_.add(sums_[i], set_.tensors[i].nbytes, bytes);
    return {};
  }
  file_check check() {
    return [this](const fs::path& written) { return verify_file(written); };
  }
  write_progress follow() {
    return [this](const fs::path& temp, std::uint64_t bytes) { follower_.advance(temp, bytes); };
  }
  /// After the last file: every source tensor was found in exactly one written file.
  result<void> all_seen() const {
    const auto n = static_cast<std::size_t>(std::count(seen_.begin(), seen_.end(), true));
    if (n != seen_.size())
      return fail(
          errc::invalid_checkpoint,
          fmt::format("verify: the output holds {} tensors, {} were written", n, seen_.size()));
    return {};
  }

 private:
  /// The read-back buffer of each thread: a piece is read in parts of this size.
  static constexpr std::uint64_t read_chunk = 256u << 10;

  /// Piece k of the tensor `info` of the output, the source tensor's index `source`.
  struct piece {
    const tensor_info* info;
    std::size_t source;
    std::size_t k;
  };

  static std::vector<std::uint64_t> sizes_of(const tensor_set& set) {
    std::vector<std::uint64_t> out;
    for (const auto& t : set.tensors) out.push_back(t.nbytes);
    return out;
  }

  result<void> verify_file(const fs::path& written) {
    follower_.close();
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
      const std::size_t i = it->second;
      const source_tensor& s = set_.tensors[i];
      if (seen_[i])
        return fail(errc::invalid_checkpoint,
                    fmt::format("verify: tensor '{}' is in the output twice",
                                detail::ascii_escaped(s.name)));
      seen_[i] = true;
      if (info.type != s.type || info.shape != s.shape || info.nbytes() != s.nbytes)
        return fail(errc::invalid_checkpoint,
                    fmt::format("verify: tensor '{}' has another dtype or shape in the output",
                                detail::ascii_escaped(s.name)));
      const std::uint64_t n = (s.nbytes + detail::piece_size - 1) / detail::piece_size;
      if (sums_[i].length != s.nbytes || sums_[i].pieces.size() != n)
        return fail(errc::invalid_checkpoint,
                    fmt::format("verify: tensor '{}': {} bytes were written, not {}",
                                detail::ascii_escaped(s.name), sums_[i].length, s.nbytes));
      for (std::size_t k = 0; k < n; ++k) {
        const piece p{&info, i, k};
        const auto& early = follower_.sum(i, k);
        const std::uint64_t at = k * detail::piece_size;
        if (early.length == 0 || early.offset != out.data_start() + info.begin + at ||
            early.length != std::min(detail::piece_size, s.nbytes - at))
          pieces.push_back(p);  // not read back while written: read now
        else
          ST_TRY(same_sum(p, at, early.length, early.sum));
      }
    }
    // Each thread reads a piece back through a buffer of at most read_chunk bytes, reused: it
    // stays in the CPU's cache, and a small output does not fault in fresh pages to read its
    // one piece (no bigger than the largest piece either).
    std::uint64_t largest = 0, total = 0;
    for (const auto& p : pieces) {
      largest = std::max(largest, piece_bytes(p));
      total += piece_bytes(p);
    }
    // A thread per 16 MiB to read at most: a small file is read back sooner than threads start.
    const auto threads = static_cast<unsigned>(std::min<std::uint64_t>(
        detail::usable_cpus(), std::max<std::uint64_t>(1, total / (16u << 20))));
    std::atomic<std::size_t> next{0};
    std::mutex lock;
    std::optional<error> first;  // the first difference or read error stops every thread
    detail::run_on_threads(threads, [&] {
      const auto size = static_cast<std::size_t>(std::min(largest, read_chunk));
      const auto buffer = std::make_unique_for_overwrite<std::byte[]>(size);
      const std::span<std::byte> chunk(buffer.get(), size);
      detail::piece_hasher hasher;
      for (std::size_t k; (k = next.fetch_add(1)) < pieces.size();) {
        {
          std::lock_guard g(lock);
          if (first) return;
        }
        const auto r = compare(out, pieces[k], chunk, hasher);
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

  static std::uint64_t piece_bytes(const piece& p) {
    return std::min(detail::piece_size, p.info->nbytes() - p.k * detail::piece_size);
  }

  /// The piece read back from the file against the checksum taken while writing it.
  /// The piece read back from the file, chunk by chunk through `buffer`, against the checksum
  /// taken while writing it (a piece's checksum streamed is the one taken whole).
  result<void> compare(const file& out, const piece& p, std::span<std::byte> buffer,
                       detail::piece_hasher& hasher) const {
    const std::uint64_t at = p.k * detail::piece_size;
    const std::uint64_t length = piece_bytes(p);
    detail::stream_sums sum;
    for (std::uint64_t done = 0; done < length;) {
      const auto part = buffer.first(
          static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done)));
      ST_TRY(out.read_bytes(*p.info, at + done, part));
      hasher.add(sum, length, part);
      done += part.size();
    }
    return same_sum(p, at, length, sum.pieces.front());
  }
  /// Piece p, bytes [at, at + length) of its tensor, read back with checksum `sum`.
  result<void> same_sum(const piece& p, std::uint64_t at, std::uint64_t length,
                        std::uint64_t sum) const {
    if (sum != sums_[p.source].pieces[p.k])
      return fail(errc::invalid_checkpoint,
                  fmt::format("verify: tensor '{}' differs in bytes [{}, {}) from what was written",
                              detail::ascii_escaped(p.info->name), at, at + length));
    return {};
  }

  const tensor_set& set_;
  std::unordered_map<std::string_view, std::size_t> by_name_;
  std::vector<detail::stream_sums> sums_;  // per source tensor, filled by written()
  detail::piece_hasher hasher_;
  std::vector<bool> seen_;            // per source tensor: found in a written file
  std::vector<std::uint64_t> sizes_;  // per source tensor: its bytes
  detail::write_follower follower_;   // last: its thread stops before the rest goes
};

/// The tensors as the writer takes them, each counted in `progress` and, when `check` is set,
/// hashed by it as it goes to the file.
std::vector<tensor_source> writer_sources(const tensor_set& set, progress_state& progress,
                                          verifier* check) {
  std::vector<tensor_source> out;
  out.reserve(set.tensors.size());
  for (std::size_t i = 0; i < set.tensors.size(); ++i) {
    const source_tensor& s = set.tensors[i];
    tensor_source t;
    t.name = s.name;
    t.type = s.type;
    t.shape = s.shape;
    const source_tensor* src = &s;
    if (s.read) {
      t.read = [src, i, check, &progress](std::uint64_t at,
                                          std::span<std::byte> dst) -> result<void> {
        ST_TRY(src->read(at, dst));
        if (check) ST_TRY(check->written(i, at, dst));
        progress.add(dst.size());
        return {};
      };
    } else {
      t.produce = [src, i, check, &progress](const byte_sink& sink) -> result<void> {
        std::uint64_t at = 0;
        return src->stream([&](std::span<const std::byte> c) -> result<void> {
          if (check) ST_TRY(check->written(i, at, c));
          at += c.size();
          progress.add(c.size());
          return sink(c);
        });
      };
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::uint64_t total_bytes(const tensor_set& set) {
  std::uint64_t total = 0;
  for (const auto& t : set.tensors) total += t.nbytes;
  return total;
}

/// What write_checkpoint and write_shards share: the progress count, the verifier (unless
/// --no-verify), the writer's sources and options.
struct output_run {
  progress_state progress;
  std::optional<verifier> check;
  std::vector<tensor_source> sources;  // refer to progress and check: output_run stays put
  write_options write;

  output_run(const tensor_set& set, const output_options& opts) {
    progress.total = total_bytes(set);
    progress.fn = &opts.progress;
    if (opts.verify) check.emplace(set);
    sources = writer_sources(set, progress, check ? &*check : nullptr);
    write.alignment = opts.alignment;
    write.fsync = opts.fsync;
    if (check) {
      write.check = check->check();
      write.on_written = check->follow();
    }
  }
  output_run(const output_run&) = delete;
  output_run& operator=(const output_run&) = delete;

  /// After the last file is written: every tensor verified once, and the report's counts.
  result<void> finish(const tensor_set& set, const output_options& opts, output_report& r) const {
    if (check) ST_TRY(check->all_seen());
    r.tensors = set.tensors.size();
    r.bytes = progress.total;
    r.verified = opts.verify;
    return {};
  }
};

result<void> check_options(const output_options& opts) {
  if (opts.alignment != 8 && opts.alignment != 64 && opts.alignment != 4096)
    return fail(errc::invalid_argument,
                fmt::format("alignment {} (use 8, 64 or 4096)", opts.alignment));
  return {};
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
  output_run run(set, opts);
  ST_TRY(safetensors::write_file(path, run.sources, set.metadata, run.write));
  output_report r;
  r.written = {path};
  ST_TRY(run.finish(set, opts, r));
  ST_TRY(copy_companions(companions, dir, opts, r));
  return r;
}

result<output_report> write_shards(const tensor_set& set, const fs::path& dir,
                                   const output_options& opts) {
  ST_TRY(check_options(opts));
  const auto before = existing_outputs(dir, opts.prefix);
  ST_TRY(refuse_existing(before, opts));
  const auto companions = ST_TRY(companions_to_copy(opts, dir));
  ST_TRY(make_folder(dir));
  output_run run(set, opts);
  shard_options so;
  so.max_shard_size = opts.max_shard_size;
  so.prefix = opts.prefix;
  so.write = run.write;
  output_report r;
  r.written = opts.keep_shards
                  ? ST_TRY(write_by_source_shard(set, run.sources, dir, run.write, opts))
                  : ST_TRY(write_sharded(dir, run.sources, set.metadata, so));
  ST_TRY(run.finish(set, opts, r));
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
  return r;
}

}  // namespace safetensors
