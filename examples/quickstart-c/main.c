/* C quick start (README): list the tensors of a safetensors file.
 * Build:  cc main.c $(pkg-config --cflags --libs safetensors) -o list-tensors */
#include <safetensors/safetensors.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE.safetensors\n", argv[0]);
    return 2;
  }
  st_file* file = NULL;
  st_error* err = NULL;
  if (st_open(argv[1], &file, &err) != ST_OK) {
    fprintf(stderr, "error: %s\n", st_error_message(err));
    st_error_free(err);
    return 1;
  }
  printf("safetensors %s: %zu tensors\n", st_version(), st_tensor_count(file));
  for (size_t i = 0; i < st_tensor_count(file); ++i) {
    st_tensor t;
    if (st_tensor_info(file, i, &t, &err) != ST_OK) {
      fprintf(stderr, "error: %s\n", st_error_message(err));
      st_error_free(err);
      st_close(file);
      return 1;
    }
    printf("%s %s [", t.name, t.dtype);
    for (size_t d = 0; d < t.rank; ++d)
      printf(d ? ", %llu" : "%llu", (unsigned long long)t.shape[d]);
    printf("] %llu bytes\n", (unsigned long long)t.nbytes);
  }
  st_close(file);
  return 0;
}
