// oneDNN (Debian 2.6, CPU engine, OpenMP runtime) behind gemm_engine. Primitives are created
// once per shape and reused: creation costs far more than a DistilBERT-sized execution.
#include "model/gemm.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/try.hpp"

namespace safetensors::model::detail {
namespace {

using dnnl::memory;
using dims = memory::dims;
using tag_key = std::vector<std::int64_t>;

memory::desc f32_desc(const dims& shape, const dims& strides) {
  return memory::desc(shape, memory::data_type::f32, strides);
}

std::int64_t i64(std::size_t v) { return static_cast<std::int64_t>(v); }

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

// The operand descriptors of one matmul call; `bias` empty (zero) when there is none.
struct operand_descs {
  memory::desc src, wei, dst, bias;
};

}  // namespace

struct gemm_engine::impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::map<tag_key, cached_matmul> cache;
  std::size_t max_cached = gemm_engine::max_cached_primitives;
  std::unique_ptr<void, free_deleter> scratch;
  std::size_t scratch_size = 0;
  std::map<std::pair<std::int64_t, std::int64_t>, memory::desc> packed_layouts;  // (in, out)
  packed_arena packed;                                                           // packed weights
  std::unique_ptr<void, free_deleter> join;  // pack(): joined parts, reused until end_packing()
  std::size_t join_size = 0;
  std::list<std::vector<float>> packed_biases;  // concatenated biases (stable addresses)
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
      cached_matmul c{dnnl::matmul(pd), pd.scratchpad_desc().get_size(), {}, {}, {}, {}, {}, {}};
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

  void run(cached_matmul& p, const void* src, const void* w, void* dst, const void* bias) {
    p.src.set_data_handle(const_cast<void*>(src));
    p.wei.set_data_handle(const_cast<void*>(w));
    p.dst.set_data_handle(dst);
    if (bias) p.bias.set_data_handle(const_cast<void*>(bias));
    if (p.scratch_bytes > 0) p.scratch.set_data_handle(scratch_for(p.scratch_bytes));
    p.prim.execute(strm, p.args);
    strm.wait();
  }

  // The weight layout oneDNN picks for a [in -> out] matmul when left free (format_tag::any),
  // asked once per shape with a mid-sized M; every M then uses that layout.
  const memory::desc& packed_layout(std::int64_t k, std::int64_t n) {
    auto it = packed_layouts.find({k, n});
    if (it == packed_layouts.end()) {
      constexpr std::int64_t m = 128;
      const memory::desc src({m, k}, memory::data_type::f32, memory::format_tag::ab);
      const memory::desc any({k, n}, memory::data_type::f32, memory::format_tag::any);
      const memory::desc dst({m, n}, memory::data_type::f32, memory::format_tag::ab);
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), eng);
      it = packed_layouts.emplace(std::pair{k, n}, pd.weights_desc()).first;
    }
    return it->second;
  }
};

gemm_engine::gemm_engine(std::size_t max_cached) : impl_(std::make_unique<impl>()) {
  impl_->max_cached = max_cached > 0 ? max_cached : 1;
}
gemm_engine::~gemm_engine() = default;
gemm_engine::gemm_engine(gemm_engine&&) noexcept = default;
gemm_engine& gemm_engine::operator=(gemm_engine&&) noexcept = default;

std::size_t gemm_engine::cached_primitives() const noexcept { return impl_->cache.size(); }
std::size_t gemm_engine::packed_bytes() const noexcept { return impl_->packed_bytes; }

void gemm_engine::end_packing() noexcept {
  impl_->join.reset();
  impl_->join_size = 0;
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

result<linear_weights> gemm_engine::pack(std::span<const linear_weights> parts) {
  if (parts.empty()) return fail(errc::invalid_argument, "weight packing: no weights");
  std::size_t out = 0;
  for (const auto& p : parts) {
    if (p.type != weight_type::f32 || p.in != parts[0].in || p.in == 0 || p.out == 0 ||
        (p.bias == nullptr) != (parts[0].bias == nullptr))
      return fail(errc::invalid_argument,
                  "weight packing: the parts differ in type, input size or bias");
    out += p.out;
  }
  linear_weights packed{nullptr, parts[0].bias, out, parts[0].in, weight_type::f32_packed, false};
  ST_TRY(guarded("pack", [&] {
    const std::int64_t k = i64(packed.in), n = i64(out);
    const void* plain = parts[0].weight;
    if (parts.size() > 1) {  // the parts' rows one after another: a [out, in] matrix
      const std::size_t bytes = out * packed.in * sizeof(float);
      if (bytes > impl_->join_size) {
        impl_->join.reset();
        impl_->join = huge_page_alloc(bytes);
        impl_->join_size = bytes;
      }
      auto* rows = static_cast<float*>(impl_->join.get());
      for (const auto& p : parts) {
        std::memcpy(rows, p.weight, p.out * p.in * sizeof(float));
        rows += p.out * p.in;
      }
      plain = impl_->join.get();
    }
    const memory::desc& layout = impl_->packed_layout(k, n);
    memory src(f32_desc({k, n}, {1, k}), impl_->eng, const_cast<void*>(plain));
    memory dst(layout, impl_->eng, impl_->packed.take(layout.get_size()));
    dnnl::reorder(src, dst).execute(impl_->strm, src, dst);
    impl_->strm.wait();
    if (parts.size() > 1 && packed.bias) {
      auto& bias = impl_->packed_biases.emplace_back();
      for (const auto& p : parts) bias.insert(bias.end(), p.bias, p.bias + p.out);
      packed.bias = bias.data();
    }
    packed.weight = dst.get_data_handle();
    impl_->packed_bytes += dst.get_desc().get_size();
  }));
  return packed;
}

result<void> gemm_engine::linear(const_matrix_ref x, const linear_weights& w, matrix_ref y,
                                 activation_kind act, bool accumulate) {
  if (x.rows != y.rows || x.ld < w.in || y.ld < w.out)
    return fail(errc::invalid_argument,
                "linear layer: the operand shapes do not match the weights");
  const std::int64_t m = i64(x.rows), k = i64(w.in), n = i64(w.out);
  const bool packed = w.type == weight_type::f32_packed;
  if (packed && impl_->packed_layouts.count({k, n}) == 0)
    return fail(errc::invalid_argument, "linear layer: packed weights from another engine");
  if (x.rows == 0) return {};
  return guarded("linear", [&] {
    const bool has_bias = w.bias != nullptr;
    const operand_descs d{
        f32_desc({m, k}, {i64(x.ld), 1}),
        packed ? impl_->packed_layout(k, n) : f32_desc({k, n}, {1, k}),  // W[n][k] as B[k][n]
        f32_desc({m, n}, {i64(y.ld), 1}), has_bias ? f32_desc({1, n}, {n, 1}) : memory::desc()};
    const tag_key key{0,
                      m,
                      k,
                      n,
                      i64(x.ld),
                      i64(y.ld),
                      static_cast<std::int64_t>(act),
                      accumulate,
                      has_bias,
                      static_cast<std::int64_t>(w.type)};
    auto& prim = impl_->get(key, d, [&] {
      dnnl::post_ops ops;
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
    impl_->run(prim, x.data, w.weight, y.data, w.bias);
  });
}

result<void> gemm_engine::attention_scores(head_view q, head_view k, const attention_shape& s,
                                           float scale, float* scores) {
  if (s.batch == 0) return {};
  return guarded("attention_scores", [&] {
    const std::int64_t b = i64(s.batch), h = i64(s.heads), d = i64(s.head_dim), lq = i64(s.q_len),
                       lk = i64(s.k_len);
    const operand_descs md{f32_desc({b, h, lq, d}, {i64(q.batch_stride), d, i64(q.row_stride), 1}),
                           f32_desc({b, h, d, lk}, {i64(k.batch_stride), d, 1, i64(k.row_stride)}),
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
    impl_->run(prim, q.data, k.data, scores, nullptr);
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
    const operand_descs md{
        f32_desc({b, h, lq, lk}, {h * lq * lk, lq * lk, lk, 1}),
        f32_desc({b, h, lk, d}, {i64(v.batch_stride), d, i64(v.row_stride), 1}),
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
    impl_->run(prim, probs, v.data, ctx, nullptr);
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
