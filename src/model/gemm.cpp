// oneDNN (Debian 2.6, CPU engine, OpenMP runtime) behind gemm_engine. Primitives are created
// once per shape and reused: creation costs far more than a DistilBERT-sized execution.
#include "model/gemm.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/try.hpp"
#include "model/kernels.hpp"
#include "model/mapped_pages.hpp"

namespace safetensors::model::detail {
namespace {

using dnnl::memory;
using dims = memory::dims;
using tag_key = std::vector<std::int64_t>;

memory::desc f32_desc(const dims& shape, const dims& strides) {
  return memory::desc(shape, memory::data_type::f32, strides);
}
memory::desc bf16_desc(const dims& shape, const dims& strides) {
  return memory::desc(shape, memory::data_type::bf16, strides);
}

memory::data_type packed_data_type(weight_type t) {
  switch (t) {
    case weight_type::bf16:
    case weight_type::bf16_packed:
      return memory::data_type::bf16;
    case weight_type::s8_packed:
      return memory::data_type::s8;
    case weight_type::f32:
    case weight_type::f32_packed:
      break;
  }
  return memory::data_type::f32;
}

// The activations' matching type: u8 against s8 weights.
memory::data_type src_data_type(memory::data_type wei) {
  return wei == memory::data_type::s8 ? memory::data_type::u8 : wei;
}

std::size_t element_size(weight_type t) {
  return t == weight_type::bf16 || t == weight_type::bf16_packed ? 2 : 4;
}

std::int64_t i64(std::size_t v) { return static_cast<std::int64_t>(v); }

template <class T>
T* grown(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

dnnl::algorithm eltwise_algorithm(activation_kind act, float& alpha) {
  alpha = 0.f;
  switch (act) {
    case activation_kind::relu:
      return dnnl::algorithm::eltwise_relu;
    case activation_kind::gelu_erf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case activation_kind::gelu_tanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case activation_kind::silu:
      alpha = 1.f;
      return dnnl::algorithm::eltwise_swish;
    case activation_kind::quick_gelu:
      alpha = 1.702f;
      return dnnl::algorithm::eltwise_swish;
    case activation_kind::sigmoid:
      return dnnl::algorithm::eltwise_logistic;
    case activation_kind::tanh:
      return dnnl::algorithm::eltwise_tanh;
    case activation_kind::mish:
      return dnnl::algorithm::eltwise_mish;
    case activation_kind::identity:
      break;
  }
  return dnnl::algorithm::undef;
}

// Scratchpads are user-managed: one buffer per engine, grown to the largest primitive's need,
// instead of oneDNN allocating (and page-faulting) a fresh one on every execution.
dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// A primitive with its argument memories: they are created once and re-pointed at each call's
// buffers (set_data_handle), as constructing dnnl::memory objects costs more than a small GEMM.
struct cached_matmul {
  dnnl::matmul prim;
  std::size_t scratch_bytes = 0;
  memory src, wei, dst, bias, scratch;
  memory po_mul, po_add;  // int8: the binary post-ops' per-call operands (dequantize, bias)
  std::unordered_map<int, memory> args;
};

struct free_deleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

constexpr std::size_t huge_page = std::size_t{2} << 20;

// Zero-filled on first touch, 2 MiB aligned and advised for transparent huge pages: packing
// writes ~all of a model's weights once, and 4 KiB page faults are what made it slow.
std::unique_ptr<void, free_deleter> huge_page_alloc(std::size_t bytes) {
  const std::size_t size = (bytes + huge_page - 1) / huge_page * huge_page;
  std::unique_ptr<void, free_deleter> p(std::aligned_alloc(huge_page, size));
  if (!p) throw std::bad_alloc();
  (void)::madvise(p.get(), size, MADV_HUGEPAGE);  // a hint: without THP, normal pages
  return p;
}

// Packed weights live in large chunks, handed out in order (64-byte aligned pieces): one
// allocation per layer would leave a partly used huge page behind each.
class packed_arena {
 public:
  static constexpr std::size_t chunk_size = std::size_t{32} << 20;
  void* take(std::size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    if (chunks_.empty() || used_ + bytes > capacity_) {
      capacity_ = std::max(bytes, chunk_size);
      chunks_.push_back(huge_page_alloc(capacity_));
      used_ = 0;
    }
    void* p = static_cast<std::byte*>(chunks_.back().get()) + used_;
    used_ += bytes;
    return p;
  }

 private:
  std::vector<std::unique_ptr<void, free_deleter>> chunks_;
  std::size_t used_ = 0, capacity_ = 0;
};

int team_size() noexcept {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// The operand descriptors of one matmul call; `bias` empty (zero) when there is none;
// `po_mul`/`po_add` the operands of binary post-ops 0 and 1 when the primitive has them.
struct operand_descs {
  memory::desc src, wei, dst, bias, po_mul = {}, po_add = {};
};

// Per-call operands of one matmul beyond src/weights/dst.
struct call_extras {
  const void* bias = nullptr;
  const void* po_mul = nullptr;
  const void* po_add = nullptr;
};

}  // namespace

struct gemm_engine::impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::map<tag_key, cached_matmul> cache;
  std::size_t max_cached = gemm_engine::max_cached_primitives;
  std::unique_ptr<void, free_deleter> scratch;
  std::size_t scratch_size = 0;
  std::map<std::tuple<std::int64_t, std::int64_t, int>, memory::desc>
      packed_layouts;                        // (in, out, weight data type)
  packed_arena packed;                       // packed weights
  std::unique_ptr<void, free_deleter> join;  // pack(): joined parts, reused until end_packing()
  std::size_t join_size = 0;
  std::list<std::vector<float>> packed_biases;           // concatenated biases, s8 weight scales
  std::list<std::vector<std::int32_t>> packed_col_sums;  // s8 weights' zero-point compensation
  std::size_t packed_bytes = 0;

  // Returns the cached primitive for `key`, building it from `make()`'s primitive_desc on first
  // use (its attributes must ask for a user scratchpad). oneDNN fixes a primitive's thread
  // count when it is created, so the calling thread's current team size is part of the key.
  template <class Make>
  cached_matmul& get(tag_key key, const operand_descs& d, Make&& make) {
    key.push_back(team_size());
    auto it = cache.find(key);
    if (it == cache.end()) {
      if (cache.size() >= max_cached) cache.clear();
      const dnnl::matmul::primitive_desc pd = make();
      cached_matmul c{
          dnnl::matmul(pd), pd.scratchpad_desc().get_size(), {}, {}, {}, {}, {}, {}, {}, {}};
      c.src = memory(d.src, eng, DNNL_MEMORY_NONE);
      c.wei = memory(d.wei, eng, DNNL_MEMORY_NONE);
      c.dst = memory(d.dst, eng, DNNL_MEMORY_NONE);
      c.args = {{DNNL_ARG_SRC, c.src}, {DNNL_ARG_WEIGHTS, c.wei}, {DNNL_ARG_DST, c.dst}};
      if (d.bias.get_size() > 0) {
        c.bias = memory(d.bias, eng, DNNL_MEMORY_NONE);
        c.args.emplace(DNNL_ARG_BIAS, c.bias);
      }
      if (c.scratch_bytes > 0) {
        c.scratch = memory(pd.scratchpad_desc(), eng, DNNL_MEMORY_NONE);
        c.args.emplace(DNNL_ARG_SCRATCHPAD, c.scratch);
      }
      if (d.po_mul.get_size() > 0) {
        c.po_mul = memory(d.po_mul, eng, DNNL_MEMORY_NONE);
        c.args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, c.po_mul);
        c.po_add = memory(d.po_add, eng, DNNL_MEMORY_NONE);
        c.args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, c.po_add);
      }
      it = cache.emplace(key, std::move(c)).first;
    }
    return it->second;
  }

  void* scratch_for(std::size_t bytes) {
    if (bytes > scratch_size) {
      const std::size_t size = (bytes + 4095) / 4096 * 4096;
      scratch.reset(std::aligned_alloc(4096, size));
      if (!scratch) throw std::bad_alloc();
      scratch_size = size;
    }
    return scratch.get();
  }

  void run(cached_matmul& p, const void* src, const void* w, void* dst, call_extras e = {}) {
    p.src.set_data_handle(const_cast<void*>(src));
    p.wei.set_data_handle(const_cast<void*>(w));
    p.dst.set_data_handle(dst);
    if (e.bias) p.bias.set_data_handle(const_cast<void*>(e.bias));
    if (e.po_mul) {
      p.po_mul.set_data_handle(const_cast<void*>(e.po_mul));
      p.po_add.set_data_handle(const_cast<void*>(e.po_add));
    }
    if (p.scratch_bytes > 0) p.scratch.set_data_handle(scratch_for(p.scratch_bytes));
    p.prim.execute(strm, p.args);
    strm.wait();
  }

  // The weight layout oneDNN picks for a [in -> out] matmul with `wei` weights when left free
  // (format_tag::any), asked once per shape with a mid-sized M; every M then uses that layout.
  const memory::desc& packed_layout(std::int64_t k, std::int64_t n, memory::data_type wei) {
    const std::tuple key{k, n, static_cast<int>(wei)};
    auto it = packed_layouts.find(key);
    if (it == packed_layouts.end()) {
      constexpr std::int64_t m = 128;
      const memory::desc src({m, k}, src_data_type(wei), memory::format_tag::ab);
      const memory::desc any({k, n}, wei, memory::format_tag::any);
      const memory::desc dst({m, n}, memory::data_type::f32, memory::format_tag::ab);
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), eng);
      it = packed_layouts.emplace(key, pd.weights_desc()).first;
    }
    return it->second;
  }
  bool owns_layout(std::int64_t k, std::int64_t n, weight_type t) const {
    return packed_layouts.count({k, n, static_cast<int>(packed_data_type(t))}) != 0;
  }

  // Per-call conversion buffers (grown on demand).
  std::vector<std::uint16_t> bf16_a, bf16_b;
  std::vector<std::uint8_t> u8_src;
  std::vector<float> piece_f32;  // pack(): pieces of BF16 weights widened for quantization
  std::vector<float> dequant_scales, dequant_bias;
  bool attention_bf16 = false;
  int u8_max = 255;
};

gemm_engine::gemm_engine(std::size_t max_cached, bool attention_bf16)
    : impl_(std::make_unique<impl>()) {
  impl_->max_cached = max_cached > 0 ? max_cached : 1;
  impl_->attention_bf16 = attention_bf16;
  impl_->u8_max = int8_activation_max();
}

int int8_activation_max() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  constexpr unsigned vnni_bits = (dnnl_cpu_isa_avx512_core_vnni & ~dnnl_cpu_isa_avx512_core) |
                                 (dnnl_cpu_isa_avx2_vnni & ~dnnl_cpu_isa_avx2);
  return (isa & vnni_bits) != 0 ? 255 : 127;
}

bool bf16_gemm_available() {
  static const bool available = [] {
    try {
      const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
      const memory::desc src({16, 64}, memory::data_type::bf16, memory::format_tag::ab);
      const memory::desc wei({64, 16}, memory::data_type::bf16, memory::format_tag::any);
      const memory::desc dst({16, 16}, memory::data_type::f32, memory::format_tag::ab);
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), eng);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

bool native_bf16() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return (isa & (dnnl_cpu_isa_avx512_core_bf16 & ~dnnl_cpu_isa_avx512_core_vnni)) != 0;
}

const char* effective_isa_name() noexcept {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::all:
      break;
  }
  return "reference (no JIT ISA)";
}
gemm_engine::~gemm_engine() = default;
gemm_engine::gemm_engine(gemm_engine&&) noexcept = default;
gemm_engine& gemm_engine::operator=(gemm_engine&&) noexcept = default;

bool gemm_engine::attention_bf16() const noexcept { return impl_->attention_bf16; }
std::size_t gemm_engine::cached_primitives() const noexcept { return impl_->cache.size(); }
std::size_t gemm_engine::packed_bytes() const noexcept { return impl_->packed_bytes; }

void gemm_engine::end_packing() noexcept {
  impl_->join.reset();
  impl_->join_size = 0;
  impl_->piece_f32 = {};
}

template <class F>
static result<void> guarded(const char* what, F&& f) {
  try {
    f();
    return {};
  } catch (const dnnl::error& e) {
    return fail(errc::unsupported, fmt::format("oneDNN {}: {} (status {})", what, e.what(),
                                               static_cast<int>(e.status)));
  } catch (const std::bad_alloc&) {
    return fail(errc::limit_exceeded, fmt::format("oneDNN {}: out of memory", what));
  }
}

namespace {

constexpr std::size_t piece_bytes = std::size_t{1} << 20;

std::size_t piece_rows(const linear_weights& p) {
  return std::max<std::size_t>(1, piece_bytes / (p.in * element_size(p.type)));
}

// Calls f(first_row, rows, thread) over the rows of `p` in pieces of piece_rows(p), spread over
// the calling thread's team (thread: 0 .. team_size() - 1). When p lies in a file mapping, each
// piece is mapped in just before f reads it and dropped right after, and the whole of p once
// more at the end (a fault maps the page cache's whole folio, up to 2 MiB, around the address:
// later pieces bring back the tail of earlier ones). So packing holds a few pieces of a
// checkpoint's weights in memory, never a layer. f must not throw.
template <class F>
void for_each_piece(const linear_weights& p, F&& f) {
  const std::size_t row_bytes = p.in * element_size(p.type), rows_per = piece_rows(p);
  const auto* bytes = static_cast<const std::byte*>(p.weight);
  const auto pieces = static_cast<std::int64_t>((p.out + rows_per - 1) / rows_per);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic)
#endif
  for (std::int64_t i = 0; i < pieces; ++i) {
    const std::size_t r = static_cast<std::size_t>(i) * rows_per, n = std::min(rows_per, p.out - r);
    if (p.file_mapped) populate_mapped_pages(bytes + r * row_bytes, n * row_bytes);
#ifdef _OPENMP
    f(r, n, static_cast<std::size_t>(omp_get_thread_num()));
#else
    f(r, n, std::size_t{0});
#endif
    if (p.file_mapped) release_mapped_pages(bytes + r * row_bytes, n * row_bytes);
  }
  if (p.file_mapped) release_mapped_pages(bytes, p.out * row_bytes);
}

}  // namespace

result<linear_weights> gemm_engine::pack(std::span<const linear_weights> parts, weight_type to) {
  if (parts.empty()) return fail(errc::invalid_argument, "weight packing: no weights");
  if (to != weight_type::f32_packed && to != weight_type::bf16_packed &&
      to != weight_type::s8_packed)
    return fail(errc::invalid_argument, "weight packing: not a packed weight type");
  std::size_t out = 0;
  const weight_type from = parts[0].type;
  for (const auto& p : parts) {
    if ((p.type != weight_type::f32 && p.type != weight_type::bf16) || p.type != from ||
        p.in != parts[0].in || p.in == 0 || p.out == 0 ||
        (p.bias == nullptr) != (parts[0].bias == nullptr))
      return fail(errc::invalid_argument,
                  "weight packing: the parts differ in type, input size or bias");
    out += p.out;
  }
  linear_weights packed{nullptr, nullptr, out, parts[0].in, to, false};
  ST_TRY(guarded("pack", [&] {
    const std::size_t in = packed.in;
    const std::int64_t k = i64(in), n = i64(out);
    // The plain [out, in] matrix the reorder reads: int8 and BF16 targets are quantized or
    // converted into it piece by piece; F32 targets keep the source type (the reorder widens).
    const memory::data_type from_type = packed_data_type(from);
    const memory::data_type plain_type = to == weight_type::s8_packed     ? memory::data_type::s8
                                         : to == weight_type::bf16_packed ? memory::data_type::bf16
                                                                          : from_type;
    const void* plain = parts[0].weight;
    if (parts.size() == 1 && plain_type == from_type) {  // read in place
      const linear_weights& p = parts[0];
      if (p.file_mapped) populate_mapped_pages(p.weight, out * in * element_size(from));
    } else {
      const std::size_t plain_size = memory::desc({n, k}, plain_type, dims{k, 1}).get_size();
      if (plain_size > impl_->join_size) {
        impl_->join.reset();
        impl_->join = huge_page_alloc(plain_size);
        impl_->join_size = plain_size;
      }
      auto* join = static_cast<std::byte*>(impl_->join.get());
      plain = join;
      const std::size_t plain_row = plain_size / out, from_row = in * element_size(from);
      float* scales = nullptr;
      std::int32_t* sums = nullptr;
      if (to == weight_type::s8_packed) {
        scales = impl_->packed_biases.emplace_back(out).data();
        sums = impl_->packed_col_sums.emplace_back(out).data();
        packed.scales = scales;
        packed.col_sums = sums;
      }
      // BF16 weights quantized to int8 are widened first, a piece per thread.
      const std::size_t wide_piece = piece_rows(parts[0]) * in;
      float* const wide =
          from == weight_type::bf16 && to == weight_type::s8_packed
              ? grown(impl_->piece_f32, wide_piece * static_cast<std::size_t>(team_size()))
              : nullptr;
      std::size_t row0 = 0;  // the part's first row in the joined matrix
      for (const auto& p : parts) {
        for_each_piece(p, [&](std::size_t r, std::size_t rows, std::size_t thread) {
          const std::byte* src = static_cast<const std::byte*>(p.weight) + r * from_row;
          std::byte* dst = join + (row0 + r) * plain_row;
          if (plain_type == from_type) {
            std::memcpy(dst, src, rows * from_row);
          } else if (plain_type == memory::data_type::bf16) {  // from f32
            rows_to_bf16(reinterpret_cast<const float*>(src), rows, in, in,
                         reinterpret_cast<std::uint16_t*>(dst));
          } else {  // s8, per output channel (row): scale = max |w| / 127
            const float* x = reinterpret_cast<const float*>(src);
            if (wide) {
              x = wide + thread * wide_piece;
              bf16_to_f32(reinterpret_cast<const std::uint16_t*>(src), rows * in,
                          wide + thread * wide_piece);
            }
            quantize_rows_s8(x, rows, in, reinterpret_cast<std::int8_t*>(dst), scales + row0 + r,
                             sums + row0 + r);
          }
        });
        row0 += p.out;
      }
    }
    const memory::desc& layout = impl_->packed_layout(k, n, packed_data_type(to));
    memory src(memory::desc({k, n}, plain_type, dims{1, k}), impl_->eng, const_cast<void*>(plain));
    memory dst(layout, impl_->eng, impl_->packed.take(layout.get_size()));
    dnnl::reorder(src, dst).execute(impl_->strm, src, dst);
    impl_->strm.wait();
    if (plain == parts[0].weight && parts[0].file_mapped)
      release_mapped_pages(plain, out * in * element_size(from));
    if (parts[0].bias) {  // an engine-owned copy: forwards never read the checkpoint for it
      auto& bias = impl_->packed_biases.emplace_back();
      for (const auto& p : parts) bias.insert(bias.end(), p.bias, p.bias + p.out);
      packed.bias = bias.data();
    }
    packed.weight = dst.get_data_handle();
    impl_->packed_bytes += dst.get_desc().get_size();
  }));
  return packed;
}

namespace {

// A bf16 copy of the n floats at x (same offsets), converted in parallel blocks.
const std::uint16_t* bf16_copy(const float* x, std::size_t n, std::vector<std::uint16_t>& buf) {
  constexpr std::size_t block = 4096;
  std::uint16_t* out = grown(buf, n);
  rows_to_bf16(x, n / block, block, block, out);
  const std::size_t done = n / block * block;
  if (done < n) rows_to_bf16(x + done, 1, n - done, n - done, out + done);
  return out;
}

// A dense [batch, rows, width] bf16 copy of a strided attention operand: the view of the copy.
struct bf16_heads {
  const std::uint16_t* data;
  std::size_t batch_stride, row_stride;
};
bf16_heads dense_bf16(head_view v, std::size_t batch, std::size_t rows, std::size_t width,
                      std::vector<std::uint16_t>& buf) {
  std::uint16_t* out = grown(buf, batch * rows * width);
  if (v.batch_stride == rows * v.row_stride) {
    rows_to_bf16(v.data, batch * rows, v.row_stride, width, out);
  } else {
    for (std::size_t b = 0; b < batch; ++b)
      rows_to_bf16(v.data + b * v.batch_stride, rows, v.row_stride, width, out + b * rows * width);
  }
  return {out, rows * width, width};
}

}  // namespace

result<void> gemm_engine::linear(const_matrix_ref x, const linear_weights& w, matrix_ref y,
                                 activation_kind act, bool accumulate) {
  if (x.rows != y.rows || x.ld < w.in || y.ld < w.out)
    return fail(errc::invalid_argument,
                "linear layer: the operand shapes do not match the weights");
  const std::int64_t m = i64(x.rows), k = i64(w.in), n = i64(w.out);
  const bool packed = w.type != weight_type::f32 && w.type != weight_type::bf16;
  const bool int8 = w.type == weight_type::s8_packed;
  if (packed && !impl_->owns_layout(k, n, w.type))
    return fail(errc::invalid_argument, "linear layer: packed weights from another engine");
  if (int8 && (w.scales == nullptr || w.col_sums == nullptr))
    return fail(errc::invalid_argument, "linear layer: int8 weights without scales");
  if (x.rows == 0) return {};
  return guarded("linear", [&] {
    const memory::data_type wdt = packed_data_type(w.type);
    const bool has_bias = w.bias != nullptr && !int8;  // int8: the bias joins a post-op
    const void* src = x.data;
    std::int64_t src_ld = i64(x.ld);
    call_extras extras{has_bias ? w.bias : nullptr};
    if (wdt == memory::data_type::bf16) {
      std::uint16_t* b = grown(impl_->bf16_a, x.rows * w.in);
      rows_to_bf16(x.data, x.rows, x.ld, w.in, b);
      src = b;
      src_ld = k;
    } else if (int8) {
      // y = s_x s_w[n] Σ_k (q_x - z) q_w[n][k] + b[n]
      //   = s_x s_w[n] Σ_k q_x q_w[n][k] + (b[n] - s_x s_w[n] z Σ_k q_w[n][k]):
      // the zero point folds into a per-call bias (post-op 1) next to the scales (post-op 0).
      std::uint8_t* q = grown(impl_->u8_src, x.rows * w.in);
      const u8_quantization qx = quantize_rows_u8(x.data, x.rows, x.ld, w.in, impl_->u8_max, q);
      float* scales = grown(impl_->dequant_scales, w.out);
      float* bias = grown(impl_->dequant_bias, w.out);
      for (std::size_t j = 0; j < w.out; ++j) {
        scales[j] = qx.scale * w.scales[j];
        bias[j] = (w.bias ? w.bias[j] : 0.f) -
                  scales[j] * static_cast<float>(qx.zero_point) * static_cast<float>(w.col_sums[j]);
      }
      src = q;
      src_ld = k;
      extras.po_mul = scales;
      extras.po_add = bias;
    }
    const memory::desc row_vector = f32_desc({1, n}, {n, 1});
    const operand_descs d{memory::desc({m, k}, src_data_type(wdt), dims{src_ld, 1}),
                          packed ? impl_->packed_layout(k, n, wdt)
                                 : memory::desc({k, n}, wdt, dims{1, k}),  // W[n][k] as B[k][n]
                          f32_desc({m, n}, {i64(y.ld), 1}),
                          has_bias ? row_vector : memory::desc(),
                          int8 ? row_vector : memory::desc(),
                          int8 ? row_vector : memory::desc()};
    const tag_key key{0,
                      m,
                      k,
                      n,
                      src_ld,
                      i64(y.ld),
                      static_cast<std::int64_t>(act),
                      accumulate,
                      has_bias,
                      static_cast<std::int64_t>(w.type)};
    auto& prim = impl_->get(key, d, [&] {
      dnnl::post_ops ops;
      if (int8) {
        ops.append_binary(dnnl::algorithm::binary_mul, d.po_mul);
        ops.append_binary(dnnl::algorithm::binary_add, d.po_add);
      }
      if (act != activation_kind::identity) {
        float alpha = 0.f;
        const auto alg = eltwise_algorithm(act, alpha);  // sets alpha: call before reading it
        ops.append_eltwise(1.f, alg, alpha, 0.f);
      }
      if (accumulate) ops.append_sum(1.f);
      dnnl::primitive_attr attr = user_scratchpad_attr();
      attr.set_post_ops(ops);
      auto desc = has_bias ? dnnl::matmul::desc(d.src, d.wei, d.bias, d.dst)
                           : dnnl::matmul::desc(d.src, d.wei, d.dst);
      return dnnl::matmul::primitive_desc(desc, attr, impl_->eng);
    });
    impl_->run(prim, src, w.weight, y.data, extras);
  });
}

result<void> gemm_engine::attention_scores(head_view q, head_view k, const attention_shape& s,
                                           float scale, float* scores) {
  if (s.batch == 0) return {};
  return guarded("attention_scores", [&] {
    const std::int64_t b = i64(s.batch), h = i64(s.heads), d = i64(s.head_dim), lq = i64(s.q_len),
                       lk = i64(s.k_len);
    const std::size_t width = s.heads * s.head_dim;
    const void *q_data = q.data, *k_data = k.data;
    if (impl_->attention_bf16) {  // dense BF16 copies: the operands' strides change with them
      const bf16_heads qb = dense_bf16(q, s.batch, s.q_len, width, impl_->bf16_a);
      const bf16_heads kb = dense_bf16(k, s.batch, s.k_len, width, impl_->bf16_b);
      q = {nullptr, qb.batch_stride, qb.row_stride};
      k = {nullptr, kb.batch_stride, kb.row_stride};
      q_data = qb.data;
      k_data = kb.data;
    }
    const auto in_desc = impl_->attention_bf16 ? bf16_desc : f32_desc;
    const operand_descs md{in_desc({b, h, lq, d}, {i64(q.batch_stride), d, i64(q.row_stride), 1}),
                           in_desc({b, h, d, lk}, {i64(k.batch_stride), d, 1, i64(k.row_stride)}),
                           f32_desc({b, h, lq, lk}, {h * lq * lk, lq * lk, lk, 1}), memory::desc()};
    // The scale is baked into the primitive: include its bits in the key.
    std::uint32_t bits;
    static_assert(sizeof bits == sizeof scale);
    std::memcpy(&bits, &scale, sizeof bits);
    const tag_key key{1,
                      b,
                      h,
                      d,
                      lq,
                      lk,
                      i64(q.batch_stride),
                      i64(q.row_stride),
                      i64(k.batch_stride),
                      i64(k.row_stride),
                      bits};
    auto& prim = impl_->get(key, md, [&] {
      dnnl::primitive_attr attr = user_scratchpad_attr();
      attr.set_output_scales(0, {scale});
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(md.src, md.wei, md.dst), attr,
                                          impl_->eng);
    });
    impl_->run(prim, q_data, k_data, scores);
  });
}

result<void> gemm_engine::attention_context(const float* probs, head_view v,
                                            const attention_shape& s, float* ctx,
                                            std::size_t ctx_batch_stride,
                                            std::size_t ctx_row_stride) {
  if (s.batch == 0) return {};
  return guarded("attention_context", [&] {
    const std::int64_t b = i64(s.batch), h = i64(s.heads), d = i64(s.head_dim), lq = i64(s.q_len),
                       lk = i64(s.k_len);
    const void *p_data = probs, *v_data = v.data;
    if (impl_->attention_bf16) {
      p_data = bf16_copy(probs, s.batch * s.heads * s.q_len * s.k_len, impl_->bf16_a);
      const bf16_heads vb = dense_bf16(v, s.batch, s.k_len, s.heads * s.head_dim, impl_->bf16_b);
      v = {nullptr, vb.batch_stride, vb.row_stride};
      v_data = vb.data;
    }
    const auto in_desc = impl_->attention_bf16 ? bf16_desc : f32_desc;
    const operand_descs md{
        in_desc({b, h, lq, lk}, {h * lq * lk, lq * lk, lk, 1}),
        in_desc({b, h, lk, d}, {i64(v.batch_stride), d, i64(v.row_stride), 1}),
        f32_desc({b, h, lq, d}, {i64(ctx_batch_stride), d, i64(ctx_row_stride), 1}),
        memory::desc()};
    const tag_key key{2,
                      b,
                      h,
                      d,
                      lq,
                      lk,
                      i64(v.batch_stride),
                      i64(v.row_stride),
                      i64(ctx_batch_stride),
                      i64(ctx_row_stride)};
    auto& prim = impl_->get(key, md, [&] {
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(md.src, md.wei, md.dst),
                                          user_scratchpad_attr(), impl_->eng);
    });
    impl_->run(prim, p_data, v_data, ctx);
  });
}

void set_compute_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
#else
  (void)threads;  // builds without OpenMP (clang fuzz preset) run our kernels on one thread
#endif
}

}  // namespace safetensors::model::detail
