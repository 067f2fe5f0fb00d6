// `__metadata__` edits in place (same N, trailing spaces) or by an atomic rewrite, and edits of
// an index's "metadata" object.
#include "safetensors/metadata_edit.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/atomic_file.hpp"
#include "core/json_fields.hpp"
#include "core/mapped_file.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"
#include "core/write_plan.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/reader.hpp"

namespace safetensors {
namespace fs = std::filesystem;
namespace {

error io_error(const fs::path& path, std::string_view what, int err) {
  return error{errc::io, fmt::format("{}: {}: {}", path.string(), what, std::strerror(err))};
}

bool same_metadata(const metadata_map& a, const metadata_map& b) {
  return a.present == b.present && a.entries == b.entries;
}

bool same_layout(const std::vector<tensor_info>& a, const std::vector<tensor_info>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.name == y.name && x.type == y.type && x.shape == y.shape && x.begin == y.begin &&
           x.end == y.end;
  });
}

// The edited file must read back with the same tensors, the same data size and the new metadata.
result<void> check_written(const fs::path& written, const fs::path& shown, const header& before,
                           const metadata_map& metadata, std::uint64_t max_header_size) {
  open_options o;
  o.header_only = true;
  o.max_header_size = max_header_size;
  auto f = file::open(written, o);
  if (!f) {
    return fail(f.error().code, fmt::format("{}: the edited header does not read back: {}",
                                            shown.string(), f.error().message));
  }
  if (!same_layout(f->tensors(), before.tensors) || f->info().data_size != before.data_size ||
      !same_metadata(f->metadata(), metadata)) {
    return fail(errc::io, fmt::format("{}: the edited header reads back different tensors or "
                                      "metadata (the file changed while it was edited?)",
                                      shown.string()));
  }
  return {};
}

result<void> pwrite_all(int fd, std::uint64_t offset, std::string_view bytes,
                        const fs::path& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return tl::unexpected(io_error(path, "cannot write the header", n < 0 ? errno : EIO));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

result<void> edit_in_place(const fs::path& real, const fs::path& shown, const header& before,
                           std::string json, const metadata_map& metadata,
                           const metadata_write_options& opts) {
  json.append(before.header_size - json.size(), ' ');
  const int raw_fd = ::open(real.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (raw_fd < 0) return tl::unexpected(io_error(shown, "cannot open for writing", errno));
  const detail::unique_fd fd(raw_fd);
  std::string old(before.header_size, '\0');
  ST_TRY(detail::pread_exact(fd.get(), 8, std::as_writable_bytes(std::span(old)), shown));
  ST_TRY(pwrite_all(fd.get(), 8, json, shown));
  if (opts.fsync && ::fsync(fd.get()) != 0) {
    const int err = errno;
    (void)pwrite_all(fd.get(), 8, old, shown);  // best effort: the write error is what we report
    return tl::unexpected(io_error(shown, "fsync", err));
  }
  auto check = check_written(real, shown, before, metadata, opts.max_header_size);
  if (!check) {
    (void)pwrite_all(fd.get(), 8, old, shown);  // undo; the check's error is what we report
    return check;
  }
  return {};
}

result<void> rewrite(const fs::path& real, const fs::path& shown, const file& source,
                     const metadata_map& metadata, const metadata_write_options& opts,
                     mode_t mode) {
  const header& before = source.info();
  write_options w;
  const std::uint64_t start = source.data_start();
  w.alignment = std::clamp<std::uint64_t>(start & (~start + 1), 8, 4096);
  w.max_header_size = opts.max_header_size;
  const std::string json = ST_TRY(detail::header_text(before.tensors, metadata, w));
  std::uint64_t size = 0;
  const auto in = ST_TRY(detail::open_regular_file(real, size));
  if (size != start + before.data_size) {
    return fail(errc::io, fmt::format("{}: the file changed while it was edited", shown.string()));
  }
  auto out = ST_TRY(detail::atomic_file::create(real));
  out.expect_size(8 + json.size() + before.data_size);
  std::array<std::byte, 8> prefix{};
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<std::byte>((json.size() >> (8 * i)) & 0xff);
  ST_TRY(out.write(prefix));
  ST_TRY(out.write(std::as_bytes(std::span(json))));
  ST_TRY(out.fill(before.data_size, [&](std::uint64_t at, std::span<std::byte> buf) {
    return detail::pread_exact(in.get(), start + at, buf, shown);
  }));
  if (::chmod(out.temp_path().c_str(), mode & 07777) != 0)
    return tl::unexpected(io_error(out.temp_path(), "chmod", errno));
  return out.commit(opts.fsync, [&](const fs::path& written) {
    return check_written(written, shown, before, metadata, opts.max_header_size);
  });
}

// The file a symlink points to (edited where it lives), when it has a write permission bit:
// a read-only file is refused even for root, who could write it anyway.
result<fs::path> writable_target(const fs::path& path, mode_t& mode) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return fail(errc::io, fmt::format("{}: {}", path.string(), ec.message()));
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) return tl::unexpected(io_error(path, "stat", errno));
  if ((st.st_mode & 0222) == 0) {
    return fail(errc::io, fmt::format("{}: the file is read-only (mode {:04o}): its metadata "
                                      "cannot be edited",
                                      path.string(), st.st_mode & 07777));
  }
  mode = st.st_mode;
  return real;
}

std::string rstrip_spaces(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

result<metadata_map> apply_metadata_edit(metadata_map m, const metadata_edit& edit) {
  std::set<std::string_view> seen;
  for (const auto& [k, v] : edit.set) {
    if (!detail::is_valid_utf8(k) || !detail::is_valid_utf8(v))
      return fail(errc::invalid_argument, "metadata: a key or value is not valid UTF-8");
    if (!seen.insert(k).second)
      return fail(errc::invalid_argument,
                  fmt::format("metadata key '{}': set twice", detail::ascii_escaped(k)));
  }
  for (const auto& k : edit.unset) {
    if (seen.count(k) != 0)
      return fail(errc::invalid_argument,
                  fmt::format("metadata key '{}': both set and unset", detail::ascii_escaped(k)));
  }
  std::erase_if(m.entries, [&](const auto& e) {
    return std::find(edit.unset.begin(), edit.unset.end(), e.first) != edit.unset.end() ||
           seen.count(e.first) != 0;
  });
  for (const auto& kv : edit.set) m.entries.push_back(kv);
  std::sort(m.entries.begin(), m.entries.end(), [](const auto& a, const auto& b) {
    return std::string_view(a.first) < std::string_view(b.first);
  });
  if (!edit.set.empty()) m.present = true;
  return m;
}

result<metadata_write> write_metadata(const fs::path& path, const metadata_map& metadata,
                                      const metadata_write_options& opts) {
  open_options o;
  o.header_only = true;
  o.max_header_size = opts.max_header_size;
  const file source = ST_TRY(file::open(path, o));
  if (same_metadata(source.metadata(), metadata)) return metadata_write::unchanged;
  mode_t mode = 0;
  const fs::path real = ST_TRY(writable_target(path, mode));
  write_options w;
  w.max_header_size = opts.max_header_size;
  std::string json = rstrip_spaces(ST_TRY(detail::header_text(source.tensors(), metadata, w)));
  if (json.size() <= source.info().header_size) {
    ST_TRY(edit_in_place(real, path, source.info(), std::move(json), metadata, opts));
    return metadata_write::in_place;
  }
  ST_TRY(rewrite(real, path, source, metadata, opts, mode));
  return metadata_write::rewritten;
}

result<index_metadata> read_index_metadata(const fs::path& index) {
  const auto text = ST_TRY(detail::read_small_file(index, default_max_header_size));
  const auto doc = ST_TRY(detail::json_document::parse(text, index.string(), errc::invalid_index));
  index_metadata out;
  const auto meta = doc.root().find("metadata");
  if (!meta || meta->is_null()) return out;
  const auto fields = ST_TRY(meta->object());
  out.present = true;
  for (const auto& [k, v] : fields.members()) {
    out.is_string.push_back(v.is_string());
    out.entries.emplace_back(std::string(k), v.is_string() ? std::string(ST_TRY(v.string()))
                                                           : simdjson::to_string(v.raw()));
  }
  return out;
}

result<void> edit_index_metadata(const fs::path& index, const metadata_edit& edit, bool fsync) {
  for (const auto& [k, v] : edit.set) {
    if (k == "total_size") {
      return fail(errc::invalid_argument,
                  fmt::format("{}: metadata key 'total_size' must stay a number: it cannot be set",
                              index.string()));
    }
  }
  // Checks the edit itself (twice, both set and unset, UTF-8).
  (void)ST_TRY(apply_metadata_edit({}, edit));
  mode_t mode = 0;
  const fs::path real = ST_TRY(writable_target(index, mode));
  const auto text = ST_TRY(detail::read_small_file(real, default_max_header_size));
  const auto doc = ST_TRY(detail::json_document::parse(text, index.string(), errc::invalid_index));
  const auto root = doc.root();
  auto write_metadata_object = [&](json_writer& w, const detail::json_object* old) {
    w.key("metadata").begin_object();
    auto replaced = [&](std::string_view k) {
      for (const auto& [sk, sv] : edit.set)
        if (sk == k) return &sv;
      return static_cast<const std::string*>(nullptr);
    };
    std::set<std::string_view> written;
    if (old != nullptr) {
      for (const auto& [k, v] : old->members()) {
        if (std::find(edit.unset.begin(), edit.unset.end(), k) != edit.unset.end()) continue;
        w.key(k);
        if (const auto* nv = replaced(k)) {
          w.value(*nv);
          written.insert(k);
        } else {
          w.raw(simdjson::to_string(v.raw()));
        }
      }
    }
    for (const auto& [k, v] : edit.set)
      if (written.count(k) == 0) w.key(k).value(v);
    w.end_object();
  };
  json_writer w;
  w.begin_object();
  const auto meta = root.find("metadata");
  if (!meta || meta->is_null()) write_metadata_object(w, nullptr);
  for (const auto& [k, v] : root.members()) {
    if (k == "metadata") {
      if (v.is_null()) continue;
      const auto old = ST_TRY(v.object());
      write_metadata_object(w, &old);
    } else {
      w.key(k).raw(simdjson::to_string(v.raw()));
    }
  }
  w.end_object();
  auto out = ST_TRY(detail::atomic_file::prepared_text(real, w.str() + "\n", fsync));
  if (::chmod(out.temp_path().c_str(), mode & 07777) != 0)
    return tl::unexpected(io_error(out.temp_path(), "chmod", errno));
  return out.publish();
}

}  // namespace safetensors
