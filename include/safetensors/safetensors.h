/* C API of safetensors-cpp (safetensors::core). No C++ exception crosses it.
 *
 * Conventions: functions that can fail return ST_OK (0) or ST_ERROR (-1). When `err` is not
 * NULL, a failure stores a new error object in *err (free it with st_error_free); on success
 * *err is left untouched. Strings returned by accessors are owned by the handle they came
 * from and stay valid until that handle is closed/freed.
 *
 *   st_file* f; st_error* e = NULL;
 *   if (st_open("model.safetensors", &f, &e) != ST_OK) { puts(st_error_message(e));
 * st_error_free(e); }
 */
#ifndef SAFETENSORS_SAFETENSORS_H
#define SAFETENSORS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "safetensors/version.h" /* SAFETENSORS_VERSION_STRING and its parts */

#ifdef __cplusplus
extern "C" {
#endif

#define ST_OK 0
#define ST_ERROR (-1)

typedef struct st_file st_file;     /* an open, validated file (mmap backend) */
typedef struct st_writer st_writer; /* tensors + metadata collected for one write */
typedef struct st_error st_error;   /* kind + one-line message */

/* One tensor of an open file. Pointers are valid while the file is open. */
typedef struct st_tensor {
  const char* name; /* NUL-terminated; may contain NUL bytes: use name_len */
  size_t name_len;
  const char* dtype; /* "F32", "BF16", ... */
  size_t rank;
  const uint64_t* shape; /* rank entries (NULL when rank is 0) */
  const void* data;      /* little-endian, row-major bytes in the mapping */
  uint64_t nbytes;
} st_tensor;

/* The version of the library in use, e.g. "0.1.0" (SAFETENSORS_VERSION_STRING when built). */
const char* st_version(void);

/* ---- errors ---- */
const char* st_error_message(const st_error* err); /* "" for NULL */
const char* st_error_kind(const st_error* err);    /* e.g. "invalid_offset", "io" */
void st_error_free(st_error* err);                 /* NULL is allowed */

/* ---- reading ---- */
int st_open(const char* path, st_file** out, st_error** err);
void st_close(st_file* file); /* NULL is allowed */
/* Tensors are indexed in data-offset order. */
size_t st_tensor_count(const st_file* file);
int st_tensor_info(const st_file* file, size_t index, st_tensor* out, st_error** err);
/* Index of the tensor called `name` (kind "tensor_not_found" when absent). */
int st_find(const st_file* file, const char* name, size_t* index, st_error** err);
/* __metadata__ entries, sorted by key. */
size_t st_metadata_count(const st_file* file);
int st_metadata_get(const st_file* file, size_t index, const char** key, const char** value,
                    st_error** err);

/* ---- writing ---- */
/* NULL only when out of memory. */
st_writer* st_writer_new(void);
/* Adds a tensor. `dtype` is a header name ("F32"); `data` is borrowed and must stay valid until
 * st_writer_write returns; nbytes must equal the dtype/shape byte count. The name is copied. */
int st_writer_add(st_writer* w, const char* name, const char* dtype, size_t rank,
                  const uint64_t* shape, const void* data, uint64_t nbytes, st_error** err);
/* Sets (or replaces) a __metadata__ entry; the file then carries a __metadata__ object. */
int st_writer_set_metadata(st_writer* w, const char* key, const char* value, st_error** err);
/* Writes atomically (temp file, fsync, rename). alignment: 0 or 8 (reference layout), 64, 4096. */
int st_writer_write(const st_writer* w, const char* path, uint64_t alignment, st_error** err);
void st_writer_free(st_writer* w); /* NULL is allowed */

#ifdef __cplusplus
}
#endif

#endif /* SAFETENSORS_SAFETENSORS_H */
