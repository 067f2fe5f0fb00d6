// ST_VECTOR_CLONES: builds a hot loop for x86-64-v3 (AVX2) and -v4 (AVX-512) besides the baseline;
// the loader picks the one the running CPU supports (never tuned for one CPU). Empty elsewhere
// (other architectures, clang, sanitizer builds).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define ST_VECTOR_CLONES \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define ST_VECTOR_CLONES
#endif
