/* C API test: write, reopen, compare, error paths. argv[1]: a folder for temp files. */
#define _GNU_SOURCE
#include <safetensors/safetensors.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Expects a failure of kind `kind` stored in *errp; frees the error and resets *errp. The
 * pointer (not the error) is passed so that it is read after the call has run. */
static void expect_error(int rc, st_error** errp, const char* kind) {
  st_error* err = *errp;
  *errp = NULL;
  CHECK(rc == ST_ERROR);
  CHECK(err != NULL);
  if (err == NULL) return;
  if (strcmp(st_error_kind(err), kind) != 0) {
    fprintf(stderr, "expected kind %s, got %s: %s\n", kind, st_error_kind(err),
            st_error_message(err));
    ++failures;
  }
  CHECK(strlen(st_error_message(err)) > 0);
  st_error_free(err);
}

static void write_bytes(const char* path, const void* data, size_t n) {
  FILE* f = fopen(path, "wb");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  fwrite(data, 1, n, f);
  fclose(f);
}

static const float weights[6] = {0.f, 1.f, 2.f, 3.f, 4.f, 5.5f};
static const int64_t step = -42;
static const uint64_t w_shape[2] = {2, 3};
static const uint64_t empty_shape[1] = {0};

static void test_write_and_read(const char* path) {
  st_error* err = NULL;
  st_writer* w = st_writer_new();
  CHECK(w != NULL);
  CHECK(st_writer_add(w, "w", "F32", 2, w_shape, weights, sizeof weights, &err) == ST_OK);
  CHECK(st_writer_add(w, "step", "I64", 0, NULL, &step, sizeof step, &err) == ST_OK);
  CHECK(st_writer_add(w, "empty", "U8", 1, empty_shape, NULL, 0, &err) == ST_OK);
  CHECK(st_writer_set_metadata(w, "format", "np", &err) == ST_OK);
  CHECK(st_writer_set_metadata(w, "format", "pt", &err) == ST_OK); /* replaces */
  CHECK(st_writer_set_metadata(w, "author", "capi", &err) == ST_OK);
  CHECK(st_writer_write(w, path, 0, &err) == ST_OK);
  CHECK(err == NULL);
  st_writer_free(w);

  st_file* f = NULL;
  CHECK(st_open(path, &f, &err) == ST_OK);
  if (f == NULL) {
    fprintf(stderr, "open: %s\n", st_error_message(err));
    ++failures;
    return;
  }
  CHECK(st_tensor_count(f) == 3);
  /* writer order: I64, F32, U8 */
  const char* order[3] = {"step", "w", "empty"};
  for (size_t i = 0; i < 3; ++i) {
    st_tensor t;
    CHECK(st_tensor_info(f, i, &t, &err) == ST_OK);
    CHECK(strcmp(t.name, order[i]) == 0);
    size_t found = 99;
    CHECK(st_find(f, order[i], &found, &err) == ST_OK);
    CHECK(found == i);
  }
  st_tensor t;
  size_t i = 0;
  CHECK(st_find(f, "w", &i, &err) == ST_OK);
  CHECK(st_tensor_info(f, i, &t, &err) == ST_OK);
  CHECK(strcmp(t.dtype, "F32") == 0 && t.rank == 2 && t.shape[0] == 2 && t.shape[1] == 3);
  CHECK(t.name_len == 1 && t.nbytes == sizeof weights &&
        memcmp(t.data, weights, sizeof weights) == 0);
  CHECK(st_find(f, "step", &i, &err) == ST_OK);
  CHECK(st_tensor_info(f, i, &t, &err) == ST_OK);
  CHECK(strcmp(t.dtype, "I64") == 0 && t.rank == 0 && t.shape == NULL && t.nbytes == 8);
  CHECK(memcmp(t.data, &step, sizeof step) == 0);
  CHECK(st_find(f, "empty", &i, &err) == ST_OK);
  CHECK(st_tensor_info(f, i, &t, &err) == ST_OK);
  CHECK(t.rank == 1 && t.shape[0] == 0 && t.nbytes == 0);

  CHECK(st_metadata_count(f) == 2);
  const char* key = NULL;
  const char* value = NULL;
  CHECK(st_metadata_get(f, 0, &key, &value, &err) == ST_OK);
  CHECK(strcmp(key, "author") == 0 && strcmp(value, "capi") == 0);
  CHECK(st_metadata_get(f, 1, &key, &value, &err) == ST_OK);
  CHECK(strcmp(key, "format") == 0 && strcmp(value, "pt") == 0);

  err = NULL;
  expect_error(st_find(f, "nope", &i, &err), &err, "tensor_not_found");
  err = NULL;
  expect_error(st_tensor_info(f, 3, &t, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_metadata_get(f, 2, &key, &value, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_find(f, NULL, &i, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_tensor_info(f, 0, NULL, &err), &err, "invalid_argument");
  st_close(f);
}

static void test_alignment(const char* path) {
  st_error* err = NULL;
  st_writer* w = st_writer_new();
  CHECK(st_writer_add(w, "w", "F32", 2, w_shape, weights, sizeof weights, &err) == ST_OK);
  CHECK(st_writer_write(w, path, 4096, &err) == ST_OK);
  err = NULL;
  expect_error(st_writer_write(w, path, 12, &err), &err, "invalid_argument");
  st_writer_free(w);
  FILE* f = fopen(path, "rb");
  unsigned char prefix[8] = {0};
  CHECK(f != NULL && fread(prefix, 1, 8, f) == 8);
  if (f) fclose(f);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | prefix[k];
  CHECK((8 + n) % 4096 == 0);
}

static void test_writer_errors(const char* dir) {
  st_error* err = NULL;
  st_writer* w = st_writer_new();
  expect_error(st_writer_add(w, "w", "F32", 2, w_shape, weights, 20, &err), &err,
               "invalid_tensor_view");
  err = NULL;
  expect_error(st_writer_add(w, "w", "f32", 2, w_shape, weights, 24, &err), &err, "unknown_dtype");
  err = NULL;
  expect_error(st_writer_add(w, "x", "F4", 1, (const uint64_t[]){3}, weights, 2, &err), &err,
               "misaligned_slice");
  err = NULL;
  expect_error(st_writer_add(w, NULL, "F32", 0, NULL, weights, 4, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_writer_add(w, "w", "F32", 2, NULL, weights, 24, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_writer_add(w, "w", "F32", 2, w_shape, NULL, 24, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_writer_add(NULL, "w", "F32", 2, w_shape, weights, 24, &err), &err,
               "invalid_argument");
  CHECK(st_writer_add(w, "w", "F32", 2, w_shape, weights, 24, NULL) == ST_OK);
  err = NULL;
  expect_error(st_writer_add(w, "w", "F32", 2, w_shape, weights, 24, &err), &err, "duplicate_key");
  err = NULL;
  expect_error(st_writer_set_metadata(w, "k", NULL, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_writer_write(w, NULL, 0, &err), &err, "invalid_argument");
  char path[4096];
  snprintf(path, sizeof path, "%s/no/such/folder/x.safetensors", dir);
  err = NULL;
  expect_error(st_writer_write(w, path, 0, &err), &err, "io");
  /* A NULL err pointer is allowed: the status alone reports the failure. */
  CHECK(st_writer_write(w, path, 0, NULL) == ST_ERROR);
  st_writer_free(w);
  st_writer_free(NULL);
  st_error_free(NULL);
  CHECK(strcmp(st_error_message(NULL), "") == 0);
}

static void test_open_errors(const char* dir) {
  char path[4096];
  st_error* err = NULL;
  st_file* f = (st_file*)&err; /* must be reset to NULL on failure */
  snprintf(path, sizeof path, "%s/missing.safetensors", dir);
  expect_error(st_open(path, &f, &err), &err, "io");
  CHECK(f == NULL);
  /* N = 1000 but the file has 12 bytes. */
  snprintf(path, sizeof path, "%s/corrupt.safetensors", dir);
  const unsigned char corrupt[12] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
  write_bytes(path, corrupt, sizeof corrupt);
  err = NULL;
  expect_error(st_open(path, &f, &err), &err, "invalid_header_length");
  /* Overlapping offsets. */
  snprintf(path, sizeof path, "%s/overlap.safetensors", dir);
  const char json[] =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
  unsigned char buf[256] = {0};
  const size_t n = sizeof json - 1;
  buf[0] = (unsigned char)n;
  memcpy(buf + 8, json, n);
  write_bytes(path, buf, 8 + n + 2);
  err = NULL;
  expect_error(st_open(path, &f, &err), &err, "invalid_offset");
  err = NULL;
  expect_error(st_open(NULL, &f, &err), &err, "invalid_argument");
  err = NULL;
  expect_error(st_open(path, NULL, &err), &err, "invalid_argument");
  CHECK(st_tensor_count(NULL) == 0 && st_metadata_count(NULL) == 0);
  st_close(NULL);
}

int main(int argc, char** argv) {
  char dir[2048];
  const char* tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/capi-XXXXXX",
           argc > 1 ? argv[1] : (tmp != NULL && *tmp ? tmp : "/tmp"));
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  char path[4096], aligned[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  snprintf(aligned, sizeof aligned, "%s/aligned.safetensors", dir);
  CHECK(strcmp(st_version(), SAFETENSORS_VERSION_STRING) == 0);
  CHECK(SAFETENSORS_VERSION_MAJOR >= 0 && strlen(st_version()) >= 5);
  test_write_and_read(path);
  test_alignment(aligned);
  test_writer_errors(dir);
  test_open_errors(dir);
  const char* files[] = {"model.safetensors", "aligned.safetensors", "corrupt.safetensors",
                         "overlap.safetensors"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; ++k) {
    snprintf(path, sizeof path, "%s/%s", dir, files[k]);
    unlink(path);
  }
  if (rmdir(dir) != 0) {
    perror("rmdir (leftover files?)");
    ++failures;
  }
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("capi_test: all checks passed\n");
  return failures ? 1 : 0;
}
