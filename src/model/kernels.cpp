// Row kernels. The hot loops are written so GCC vectorizes them; target_clones builds AVX-512
// and AVX2 variants next to the baseline (the library is compiled for generic x86-64).
#include "model/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace safetensors::model::detail {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SAFETENSORS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SAFETENSORS_CLONES
#endif

namespace {

// f(r) for every r < rows, split over the calling thread's team when `parallel`.
template <class F>
void for_rows(std::size_t rows, bool parallel, F&& f) {
  const auto n = static_cast<std::int64_t>(rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#else
  (void)parallel;
#endif
  for (std::int64_t i = 0; i < n; ++i) f(static_cast<std::size_t>(i));
}

// Reductions over 16 independent lanes: vectorizable without -ffast-math (a plain float sum
// would be kept sequential by the compiler).
constexpr std::size_t lanes = 16;

inline float lane_sum(const float* x, std::size_t n) {
  float acc[lanes] = {};
  std::size_t j = 0;
  for (; j + lanes <= n; j += lanes)
    for (std::size_t l = 0; l < lanes; ++l) acc[l] += x[j + l];
  float total = 0.f;
  for (; j < n; ++j) total += x[j];
  for (float a : acc) total += a;
  return total;
}

inline float lane_centered_squares(const float* x, std::size_t n, float mean) {
  float acc[lanes] = {};
  std::size_t j = 0;
  for (; j + lanes <= n; j += lanes)
    for (std::size_t l = 0; l < lanes; ++l) acc[l] += (x[j + l] - mean) * (x[j + l] - mean);
  float total = 0.f;
  for (; j < n; ++j) total += (x[j] - mean) * (x[j] - mean);
  for (float a : acc) total += a;
  return total;
}

SAFETENSORS_CLONES
void layer_norm_row(float* x, std::size_t dim, const float* gamma, const float* beta, float eps) {
  const float mean = lane_sum(x, dim) / static_cast<float>(dim);
  const float sq = lane_centered_squares(x, dim, mean);
  const float inv = 1.f / std::sqrt(sq / static_cast<float>(dim) + eps);
  for (std::size_t i = 0; i < dim; ++i) x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 Taylor polynomial.
inline float exp_core(float x) noexcept {
  constexpr float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  const float clamped = std::max(x, -87.f);
  const float t = clamped * log2e;
  const auto n = -static_cast<std::int32_t>(0.5f - t);  // round half up for t <= 0
  const float nf = static_cast<float>(n);
  const float r = clamped - nf * ln2_hi - nf * ln2_lo;
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const std::uint32_t bits = static_cast<std::uint32_t>(n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.f ? 0.f : p * scale;
}

// Sixteen lanes of exp_core (GCC/clang vector extensions: one zmm register in the AVX-512
// clone, two ymm or four xmm elsewhere). Same steps, so the same values as exp_core. Vectors
// only travel by reference: passing or returning them by value outside an AVX-512 function
// changes the calling convention (-Wpsabi).
using v16f = float __attribute__((vector_size(64)));
using v16i = std::int32_t __attribute__((vector_size(64)));

inline __attribute__((always_inline)) void exp16(v16f& x) noexcept {
  constexpr float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  const v16f floor_v = v16f{} - 87.f;
  const v16f clamped = x < floor_v ? floor_v : x;
  const v16f t = clamped * log2e;
  const v16i n = -__builtin_convertvector(0.5f - t, v16i);
  const v16f nf = __builtin_convertvector(n, v16f);
  const v16f r = clamped - nf * ln2_hi - nf * ln2_lo;
  v16f p = v16f{} + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const v16i bits = (n + 127) << 23;
  v16f scale;
  std::memcpy(&scale, &bits, sizeof scale);
  x = x < floor_v ? v16f{} : p * scale;
}

SAFETENSORS_CLONES
void softmax_row(float* x, std::size_t cols, std::size_t valid) {
  const std::size_t full = valid / lanes * lanes;
  float mx = x[0];
  if (full > 0) {
    v16f m, v;
    std::memcpy(&m, x, sizeof m);
    for (std::size_t j = lanes; j < full; j += lanes) {
      std::memcpy(&v, x + j, sizeof v);
      m = m > v ? m : v;
    }
    for (std::size_t l = 0; l < lanes; ++l) mx = mx > m[l] ? mx : m[l];
  }
  for (std::size_t j = full; j < valid; ++j) mx = mx > x[j] ? mx : x[j];
  v16f acc = {}, e;
  for (std::size_t j = 0; j < full; j += lanes) {
    std::memcpy(&e, x + j, sizeof e);
    e -= mx;
    exp16(e);
    std::memcpy(x + j, &e, sizeof e);
    acc += e;
  }
  float total = 0.f;
  for (std::size_t j = full; j < valid; ++j) total += (x[j] = exp_core(x[j] - mx));
  for (std::size_t l = 0; l < lanes; ++l) total += acc[l];
  const float inv = 1.f / total;
  for (std::size_t j = 0; j < valid; ++j) x[j] *= inv;
  for (std::size_t j = valid; j < cols; ++j) x[j] = 0.f;
}

}  // namespace

float fast_exp_nonpositive(float x) noexcept { return exp_core(std::min(x, 0.f)); }

void layer_norm(float* x, std::size_t rows, std::size_t ld, std::size_t dim, const float* gamma,
                const float* beta, float eps) {
  const auto n = static_cast<std::int64_t>(rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * dim > 32768)
#endif
  for (std::int64_t r = 0; r < n; ++r)
    layer_norm_row(x + static_cast<std::size_t>(r) * ld, dim, gamma, beta, eps);
}

void masked_softmax(float* x, std::size_t rows, std::size_t cols, std::size_t valid) {
  if (cols == 0) return;
  valid = std::clamp<std::size_t>(valid, 1, cols);
  const auto n = static_cast<std::int64_t>(rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
#endif
  for (std::int64_t r = 0; r < n; ++r)
    softmax_row(x + static_cast<std::size_t>(r) * cols, cols, valid);
}

namespace {

const float* f32_row(table_ref t, std::size_t row, std::size_t dim) {
  return static_cast<const float*>(t.data) + row * dim;
}
const std::uint16_t* bf16_row(table_ref t, std::size_t row, std::size_t dim) {
  return static_cast<const std::uint16_t*>(t.data) + row * dim;
}

}  // namespace

std::uint16_t to_bf16(float x) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

float from_bf16(std::uint16_t x) noexcept {
  const std::uint32_t u = static_cast<std::uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void embed_sequence(std::span<const std::int32_t> ids, table_ref word, table_ref pos,
                    std::size_t dim, std::size_t padded_len, float* out) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto id = static_cast<std::size_t>(ids[i]);
    float* o = out + i * dim;
    if (word.bf16) {
      const std::uint16_t* w = bf16_row(word, id, dim);
      for (std::size_t j = 0; j < dim; ++j) o[j] = from_bf16(w[j]);
    } else {
      std::memcpy(o, f32_row(word, id, dim), dim * sizeof(float));
    }
    if (pos.bf16) {
      const std::uint16_t* p = bf16_row(pos, i, dim);
      for (std::size_t j = 0; j < dim; ++j) o[j] += from_bf16(p[j]);
    } else {
      const float* p = f32_row(pos, i, dim);
      for (std::size_t j = 0; j < dim; ++j) o[j] += p[j];
    }
  }
  if (padded_len > ids.size()) std::fill(out + ids.size() * dim, out + padded_len * dim, 0.f);
}

namespace {

SAFETENSORS_CLONES
void row_to_bf16(const float* x, std::size_t n, std::uint16_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, &x[i], sizeof u);
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    out[i] = static_cast<std::uint16_t>(nan ? (u >> 16) | 0x40u : rounded);
  }
}

// The minimum and maximum of lo, hi, 0 and the row (NaN entries are skipped).
SAFETENSORS_CLONES
void row_min_max(const float* x, std::size_t n, float& lo, float& hi) {
  v16f mn = {}, mx = {}, v;
  std::size_t j = 0;
  for (; j + lanes <= n; j += lanes) {
    std::memcpy(&v, x + j, sizeof v);
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  float l0 = lo, h0 = hi;
  for (std::size_t l = 0; l < lanes; ++l) {
    l0 = mn[l] < l0 ? mn[l] : l0;
    h0 = mx[l] > h0 ? mx[l] : h0;
  }
  for (; j < n; ++j) {
    l0 = x[j] < l0 ? x[j] : l0;
    h0 = x[j] > h0 ? x[j] : h0;
  }
  lo = l0;
  hi = h0;
}

// q = clamp(nearbyint(x * inv_scale), -zero_point, qmax - zero_point) + zero_point, NaN -> 0.
// Clamping first keeps |v| < 2^22, where adding and subtracting 1.5 * 2^23 rounds to the
// nearest integer, ties to even (nearbyint in the default rounding mode), in vector registers.
SAFETENSORS_CLONES
void row_to_u8(const float* x, std::size_t n, float inv_scale, float zero_point, float qmax,
               std::uint8_t* out) {
  using v16u8 = std::uint8_t __attribute__((vector_size(16)));
  constexpr float magic = 12582912.f;
  const float lo = -zero_point, hi = qmax - zero_point;
  const v16f lo_v = v16f{} + lo, hi_v = v16f{} + hi;
  v16f v;
  std::size_t j = 0;
  for (; j + lanes <= n; j += lanes) {
    std::memcpy(&v, x + j, sizeof v);
    v *= inv_scale;
    v = v > lo_v ? v : lo_v;  // NaN compares false: lo
    v = v < hi_v ? v : hi_v;
    v = (v + magic) - magic + zero_point;
    const v16u8 q = __builtin_convertvector(__builtin_convertvector(v, v16i), v16u8);
    std::memcpy(out + j, &q, sizeof q);
  }
  for (; j < n; ++j) {
    float s = x[j] * inv_scale;
    s = s > lo ? s : lo;
    s = s < hi ? s : hi;
    out[j] = static_cast<std::uint8_t>((s + magic) - magic + zero_point);
  }
}

// One row of quantize_rows_s8 (same rounding steps as row_to_u8).
SAFETENSORS_CLONES
void row_to_s8(const float* x, std::size_t n, std::int8_t* out, float& scale, std::int32_t& sum) {
  using v16i8 = std::int8_t __attribute__((vector_size(16)));
  constexpr float magic = 12582912.f;
  v16f amax_v = {}, v;
  std::size_t j = 0;
  for (; j + lanes <= n; j += lanes) {
    std::memcpy(&v, x + j, sizeof v);
    const v16f a = v < v16f{} ? -v : v;
    amax_v = a > amax_v ? a : amax_v;
  }
  float amax = 0.f;
  for (std::size_t l = 0; l < lanes; ++l) amax = amax_v[l] > amax ? amax_v[l] : amax;
  for (std::size_t k = j; k < n; ++k) amax = std::fabs(x[k]) > amax ? std::fabs(x[k]) : amax;
  scale = amax > 0.f && std::isfinite(amax) ? amax / 127.f : 1.f;
  const v16f lo = v16f{} - 127.f, hi = v16f{} + 127.f;
  v16i acc = {};
  j = 0;
  for (; j + lanes <= n; j += lanes) {
    std::memcpy(&v, x + j, sizeof v);
    v /= scale;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    v = (v + magic) - magic;
    const v16i q = __builtin_convertvector(v, v16i);
    acc += q;
    const v16i8 b = __builtin_convertvector(q, v16i8);
    std::memcpy(out + j, &b, sizeof b);
  }
  std::int32_t total = 0;
  for (std::size_t l = 0; l < lanes; ++l) total += acc[l];
  for (; j < n; ++j) {
    float s = x[j] / scale;
    s = s > -127.f ? s : -127.f;
    s = s < 127.f ? s : 127.f;
    const auto q = static_cast<std::int32_t>((s + magic) - magic);
    out[j] = static_cast<std::int8_t>(q);
    total += q;
  }
  sum = total;
}

}  // namespace

void quantize_rows_s8(const float* x, std::size_t rows, std::size_t cols, std::int8_t* out,
                      float* scales, std::int32_t* sums) {
  for_rows(rows, rows * cols > 65536, [&](std::size_t r) {
    row_to_s8(x + r * cols, cols, out + r * cols, scales[r], sums[r]);
  });
}

void bf16_to_f32(const std::uint16_t* x, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = from_bf16(x[i]);
}

void rows_to_bf16(const float* x, std::size_t rows, std::size_t ld, std::size_t cols,
                  std::uint16_t* out) {
  for_rows(rows, rows * cols > 65536,
           [&](std::size_t r) { row_to_bf16(x + r * ld, cols, out + r * cols); });
}

u8_quantization quantize_rows_u8(const float* x, std::size_t rows, std::size_t ld, std::size_t cols,
                                 int qmax, std::uint8_t* out) {
  const auto n = static_cast<std::int64_t>(rows);
  float lo = 0.f, hi = 0.f;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(min                 \
                                                    : lo) reduction(max \
                                                                    : hi) if (rows * cols > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i)
    row_min_max(x + static_cast<std::size_t>(i) * ld, cols, lo, hi);
  const float range = hi - lo;
  // All zeros (or a range too small to divide by): any scale represents them exactly.
  const float scale =
      range > 1e-30f && std::isfinite(range) ? range / static_cast<float>(qmax) : 1.f;
  const auto zero_point = static_cast<std::int32_t>(
      std::min(std::max(std::nearbyint(-lo / scale), 0.f), static_cast<float>(qmax)));
  const float inv = 1.f / scale, zp = static_cast<float>(zero_point),
              top = static_cast<float>(qmax);
  for_rows(rows, rows * cols > 65536,
           [&](std::size_t r) { row_to_u8(x + r * ld, cols, inv, zp, top, out + r * cols); });
  return {scale, zero_point};
}

void split_columns(const float* in, std::size_t rows, std::size_t width, std::size_t parts,
                   float* out) {
  const auto n = static_cast<std::int64_t>(rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * width * parts > 262144)
#endif
  for (std::int64_t i = 0; i < n; ++i) {
    const auto r = static_cast<std::size_t>(i);
    for (std::size_t p = 0; p < parts; ++p)
      std::memcpy(out + (p * rows + r) * width, in + (r * parts + p) * width,
                  width * sizeof(float));
  }
}

std::optional<activation_kind> activation_from_name(std::string_view name) noexcept {
  struct entry {
    std::string_view name;
    activation_kind kind;
  };
  static constexpr entry table[] = {
      {"gelu", activation_kind::gelu_erf},
      {"gelu_python", activation_kind::gelu_erf},
      {"gelu_new", activation_kind::gelu_tanh},
      {"gelu_pytorch_tanh", activation_kind::gelu_tanh},
      {"gelu_fast", activation_kind::gelu_tanh},
      {"gelu_accurate", activation_kind::gelu_tanh},
      {"quick_gelu", activation_kind::quick_gelu},
      {"relu", activation_kind::relu},
      {"silu", activation_kind::silu},
      {"swish", activation_kind::silu},
      {"sigmoid", activation_kind::sigmoid},
      {"tanh", activation_kind::tanh},
      {"mish", activation_kind::mish},
      {"linear", activation_kind::identity},
  };
  for (const auto& e : table)
    if (e.name == name) return e.kind;
  return std::nullopt;
}

float activation_reference(activation_kind act, float x) noexcept {
  const auto sigmoid = [](float v) { return 1.f / (1.f + std::exp(-v)); };
  switch (act) {
    case activation_kind::identity:
      return x;
    case activation_kind::relu:
      return x > 0.f ? x : 0.f;
    case activation_kind::gelu_erf:
      return 0.5f * x * (1.f + std::erf(x / std::sqrt(2.f)));
    case activation_kind::gelu_tanh: {
      const float c = std::sqrt(2.f / 3.14159265358979f);
      return 0.5f * x * (1.f + std::tanh(c * (x + 0.044715f * x * x * x)));
    }
    case activation_kind::silu:
      return x * sigmoid(x);
    case activation_kind::quick_gelu:
      return x * sigmoid(1.702f * x);
    case activation_kind::sigmoid:
      return sigmoid(x);
    case activation_kind::tanh:
      return std::tanh(x);
    case activation_kind::mish:
      return x * std::tanh(std::log1p(std::exp(x)));
  }
  return x;
}

}  // namespace safetensors::model::detail
