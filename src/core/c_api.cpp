// The C API (include/safetensors/safetensors.h): thin wrappers that turn result<T> errors and
// every C++ exception into st_error objects.
#include <fmt/format.h>

#include <array>
#include <new>
#include <string>
#include <vector>

#include "safetensors/reader.hpp"
#include "safetensors/safetensors.h"
#include "safetensors/writer.hpp"

struct st_error {
  std::string kind;
  std::string message;
};

struct st_file {
  safetensors::file file;
};

struct st_writer {
  std::vector<safetensors::tensor_source> tensors;
  safetensors::metadata_map metadata;
};

namespace {

using safetensors::errc;

// Returned when even the error object cannot be allocated; never freed.
st_error out_of_memory_error{"out_of_memory", "out of memory"};

int report(st_error** err, std::string_view kind, std::string message) noexcept {
  if (err == nullptr) return ST_ERROR;
  try {
    *err = new st_error{std::string(kind), std::move(message)};
  } catch (...) {
    *err = &out_of_memory_error;
  }
  return ST_ERROR;
}

int report(st_error** err, const safetensors::error& e) noexcept {
  return report(err, safetensors::errc_name(e.code), e.message);
}

// Runs `body` (which returns ST_OK or calls report) with every exception converted.
template <class F>
int guarded(st_error** err, const char* where, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    if (err) *err = &out_of_memory_error;
    return ST_ERROR;
  } catch (const std::exception& e) {
    return report(err, "internal", fmt::format("{}: {}", where, e.what()));
  } catch (...) {
    return report(err, "internal", fmt::format("{}: unknown exception", where));
  }
}

int null_argument(st_error** err, const char* where, const char* what) noexcept {
  return report(err, safetensors::errc_name(errc::invalid_argument),
                fmt::format("{}: argument {} is NULL", where, what));
}

// NUL-terminated dtype names (dtype_name() returns views).
const char* dtype_c_name(safetensors::dtype t) {
  static const auto names = [] {
    std::array<std::string, safetensors::dtype_count> n;
    for (int i = 0; i < safetensors::dtype_count; ++i)
      n[i] = safetensors::dtype_name(static_cast<safetensors::dtype>(i));
    return n;
  }();
  return names[static_cast<std::size_t>(t)].c_str();
}

int check_tensor_size(const char* where, const char* name, safetensors::dtype type, size_t rank,
                      const uint64_t* shape, uint64_t nbytes, st_error** err) {
  std::uint64_t numel = 1;
  for (size_t i = 0; i < rank; ++i) {
    if (__builtin_mul_overflow(numel, shape[i], &numel)) {
      return report(err, safetensors::errc_name(errc::validation_overflow),
                    fmt::format("{}: tensor `{}`: element count overflows", where, name));
    }
  }
  auto expected = safetensors::dtype_byte_size(type, numel);
  if (!expected) return report(err, expected.error());
  if (*expected != nbytes) {
    return report(
        err, safetensors::errc_name(errc::invalid_tensor_view),
        fmt::format("{}: tensor `{}` needs {} bytes, {} given", where, name, *expected, nbytes));
  }
  return ST_OK;
}

}  // namespace

extern "C" {

const char* st_error_message(const st_error* err) { return err ? err->message.c_str() : ""; }
const char* st_error_kind(const st_error* err) { return err ? err->kind.c_str() : ""; }
const char* st_version(void) { return SAFETENSORS_VERSION_STRING; }

void st_error_free(st_error* err) {
  if (err != &out_of_memory_error) delete err;
}

int st_open(const char* path, st_file** out, st_error** err) {
  return guarded(err, "st_open", [&] {
    if (path == nullptr) return null_argument(err, "st_open", "path");
    if (out == nullptr) return null_argument(err, "st_open", "out");
    *out = nullptr;
    auto f = safetensors::file::open(path);
    if (!f) return report(err, f.error());
    *out = new st_file{std::move(*f)};
    return ST_OK;
  });
}

void st_close(st_file* file) { delete file; }

size_t st_tensor_count(const st_file* file) { return file ? file->file.tensors().size() : 0; }

int st_tensor_info(const st_file* file, size_t index, st_tensor* out, st_error** err) {
  return guarded(err, "st_tensor_info", [&] {
    if (file == nullptr) return null_argument(err, "st_tensor_info", "file");
    if (out == nullptr) return null_argument(err, "st_tensor_info", "out");
    const auto& tensors = file->file.tensors();
    if (index >= tensors.size()) {
      return report(err, safetensors::errc_name(errc::invalid_argument),
                    fmt::format("{}: tensor index {} out of range ({} tensors)",
                                file->file.path().string(), index, tensors.size()));
    }
    const auto& t = tensors[index];
    const auto data = file->file.mapped_data();
    *out = st_tensor{t.name.c_str(),
                     t.name.size(),
                     dtype_c_name(t.type),
                     t.shape.size(),
                     t.shape.empty() ? nullptr : t.shape.data(),
                     data.empty() ? nullptr : data.data() + t.begin,
                     t.nbytes()};
    return ST_OK;
  });
}

int st_find(const st_file* file, const char* name, size_t* index, st_error** err) {
  return guarded(err, "st_find", [&] {
    if (file == nullptr) return null_argument(err, "st_find", "file");
    if (name == nullptr) return null_argument(err, "st_find", "name");
    if (index == nullptr) return null_argument(err, "st_find", "index");
    const auto* t = file->file.find(name);
    if (t == nullptr) {
      return report(err, safetensors::errc_name(errc::tensor_not_found),
                    fmt::format("{}: tensor `{}` not found", file->file.path().string(), name));
    }
    *index = static_cast<size_t>(t - file->file.tensors().data());
    return ST_OK;
  });
}

size_t st_metadata_count(const st_file* file) {
  return file ? file->file.metadata().entries.size() : 0;
}

int st_metadata_get(const st_file* file, size_t index, const char** key, const char** value,
                    st_error** err) {
  return guarded(err, "st_metadata_get", [&] {
    if (file == nullptr) return null_argument(err, "st_metadata_get", "file");
    if (key == nullptr || value == nullptr)
      return null_argument(err, "st_metadata_get", "key/value");
    const auto& entries = file->file.metadata().entries;
    if (index >= entries.size()) {
      return report(err, safetensors::errc_name(errc::invalid_argument),
                    fmt::format("{}: metadata index {} out of range ({} entries)",
                                file->file.path().string(), index, entries.size()));
    }
    *key = entries[index].first.c_str();
    *value = entries[index].second.c_str();
    return ST_OK;
  });
}

st_writer* st_writer_new(void) { return new (std::nothrow) st_writer{}; }

void st_writer_free(st_writer* w) { delete w; }

int st_writer_add(st_writer* w, const char* name, const char* dtype, size_t rank,
                  const uint64_t* shape, const void* data, uint64_t nbytes, st_error** err) {
  return guarded(err, "st_writer_add", [&] {
    if (w == nullptr) return null_argument(err, "st_writer_add", "writer");
    if (name == nullptr) return null_argument(err, "st_writer_add", "name");
    if (dtype == nullptr) return null_argument(err, "st_writer_add", "dtype");
    if (rank > 0 && shape == nullptr) return null_argument(err, "st_writer_add", "shape");
    if (nbytes > 0 && data == nullptr) return null_argument(err, "st_writer_add", "data");
    const auto type = safetensors::dtype_from_name(dtype);
    if (!type) {
      return report(err, safetensors::errc_name(errc::unknown_dtype),
                    fmt::format("st_writer_add: tensor `{}`: unknown dtype `{}`", name, dtype));
    }
    for (const auto& t : w->tensors) {
      if (t.name == name) {
        return report(err, safetensors::errc_name(errc::duplicate_key),
                      fmt::format("st_writer_add: tensor `{}` was already added", name));
      }
    }
    if (check_tensor_size("st_writer_add", name, *type, rank, shape, nbytes, err) != ST_OK)
      return ST_ERROR;
    safetensors::tensor_source t;
    t.name = name;
    t.type = *type;
    t.shape.assign(shape, shape + rank);
    t.data = std::span(static_cast<const std::byte*>(data), static_cast<size_t>(nbytes));
    w->tensors.push_back(std::move(t));
    return ST_OK;
  });
}

int st_writer_set_metadata(st_writer* w, const char* key, const char* value, st_error** err) {
  return guarded(err, "st_writer_set_metadata", [&] {
    if (w == nullptr) return null_argument(err, "st_writer_set_metadata", "writer");
    if (key == nullptr || value == nullptr)
      return null_argument(err, "st_writer_set_metadata", "key/value");
    w->metadata.present = true;
    for (auto& e : w->metadata.entries) {
      if (e.first == key) {
        e.second = value;
        return ST_OK;
      }
    }
    w->metadata.entries.emplace_back(key, value);
    return ST_OK;
  });
}

int st_writer_write(const st_writer* w, const char* path, uint64_t alignment, st_error** err) {
  return guarded(err, "st_writer_write", [&] {
    if (w == nullptr) return null_argument(err, "st_writer_write", "writer");
    if (path == nullptr) return null_argument(err, "st_writer_write", "path");
    safetensors::write_options opts;
    opts.alignment = alignment == 0 ? 8 : alignment;
    auto r = safetensors::write_file(path, w->tensors, w->metadata, opts);
    if (!r) return report(err, r.error());
    return ST_OK;
  });
}

}  // extern "C"
