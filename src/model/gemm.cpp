// oneDNN (Debian 2.6, CPU engine, OpenMP runtime) behind gemm_engine. Primitives are created
// once per shape and reused: creation costs far more than a DistilBERT-sized execution.
#include "model/gemm.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>
#ifdef _OPENMP
#include <omp.h>
#endif

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
    case activation_kind::relu: return dnnl::algorithm::eltwise_relu;
    case activation_kind::gelu_erf: return dnnl::algorithm::eltwise_gelu_erf;
    case activation_kind::gelu_tanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case activation_kind::silu: alpha = 1.f; return dnnl::algorithm::eltwise_swish;
    case activation_kind::quick_gelu: alpha = 1.702f; return dnnl::algorithm::eltwise_swish;
    case activation_kind::sigmoid: return dnnl::algorithm::eltwise_logistic;
    case activation_kind::tanh: return dnnl::algorithm::eltwise_tanh;
    case activation_kind::mish: return dnnl::algorithm::eltwise_mish;
    case activation_kind::identity: break;
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

struct cached_matmul {
  dnnl::matmul prim;
  memory::desc scratch_md;
};

struct free_deleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

}  // namespace

struct gemm_engine::impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::map<tag_key, cached_matmul> cache;
  std::size_t max_cached = gemm_engine::max_cached_primitives;
  std::unique_ptr<void, free_deleter> scratch;
  std::size_t scratch_size = 0;

  // Returns the cached primitive for `key`, building it from `make()`'s primitive_desc on first
  // use (its attributes must ask for a user scratchpad).
  template <class Make>
  cached_matmul& get(const tag_key& key, Make&& make) {
    auto it = cache.find(key);
    if (it == cache.end()) {
      if (cache.size() >= max_cached) cache.clear();
      const dnnl::matmul::primitive_desc pd = make();
      it = cache.emplace(key, cached_matmul{dnnl::matmul(pd), pd.scratchpad_desc()}).first;
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

  void run(cached_matmul& p, const memory::desc& src_md, const void* src, const memory::desc& w_md,
           const void* w, const memory::desc& dst_md, void* dst, const memory::desc* bias_md,
           const void* bias) {
    std::unordered_map<int, memory> args;
    args.emplace(DNNL_ARG_SRC, memory(src_md, eng, const_cast<void*>(src)));
    args.emplace(DNNL_ARG_WEIGHTS, memory(w_md, eng, const_cast<void*>(w)));
    args.emplace(DNNL_ARG_DST, memory(dst_md, eng, dst));
    if (bias_md) args.emplace(DNNL_ARG_BIAS, memory(*bias_md, eng, const_cast<void*>(bias)));
    if (const std::size_t bytes = p.scratch_md.get_size(); bytes > 0)
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(p.scratch_md, eng, scratch_for(bytes)));
    p.prim.execute(strm, args);
    strm.wait();
  }
};


gemm_engine::gemm_engine(std::size_t max_cached) : impl_(std::make_unique<impl>()) {
  impl_->max_cached = max_cached > 0 ? max_cached : 1;
}
gemm_engine::~gemm_engine() = default;
gemm_engine::gemm_engine(gemm_engine&&) noexcept = default;
gemm_engine& gemm_engine::operator=(gemm_engine&&) noexcept = default;

std::size_t gemm_engine::cached_primitives() const noexcept { return impl_->cache.size(); }

template <class F>
static result<void> guarded(const char* what, F&& f) {
  try {
    f();
    return {};
  } catch (const dnnl::error& e) {
    return fail(errc::unsupported, fmt::format("[{}] oneDNN: {} (status {})", what, e.what(),
                                               static_cast<int>(e.status)));
  } catch (const std::bad_alloc&) {
    return fail(errc::limit_exceeded, fmt::format("[{}] out of memory", what));
  }
}

result<void> gemm_engine::linear(const_matrix_ref x, const linear_weights& w, matrix_ref y,
                                 activation_kind act, bool accumulate) {
  if (x.rows != y.rows || x.ld < w.in || y.ld < w.out)
    return fail(errc::invalid_argument, "[linear] operand shapes do not match the weights");
  if (x.rows == 0) return {};
  return guarded("linear", [&] {
    const std::int64_t m = i64(x.rows), k = i64(w.in), n = i64(w.out);
    const auto src_md = f32_desc({m, k}, {i64(x.ld), 1});
    const auto w_md = f32_desc({k, n}, {1, k});  // W[n][k] read as B[k][n]
    const auto dst_md = f32_desc({m, n}, {i64(y.ld), 1});
    const auto bias_md = f32_desc({1, n}, {n, 1});
    const bool has_bias = w.bias != nullptr;
    const tag_key key{0, m, k, n, i64(x.ld), i64(y.ld), static_cast<std::int64_t>(act),
                      accumulate, has_bias, static_cast<std::int64_t>(w.type)};
    auto& prim = impl_->get(key, [&] {
      dnnl::post_ops ops;
      if (act != activation_kind::identity) {
        float alpha = 0.f;
        const auto alg = eltwise_algorithm(act, alpha);  // sets alpha: call before reading it
        ops.append_eltwise(1.f, alg, alpha, 0.f);
      }
      if (accumulate) ops.append_sum(1.f);
      dnnl::primitive_attr attr = user_scratchpad_attr();
      attr.set_post_ops(ops);
      auto desc = has_bias ? dnnl::matmul::desc(src_md, w_md, bias_md, dst_md)
                           : dnnl::matmul::desc(src_md, w_md, dst_md);
      return dnnl::matmul::primitive_desc(desc, attr, impl_->eng);
    });
    impl_->run(prim, src_md, x.data, w_md, w.weight, dst_md, y.data, has_bias ? &bias_md : nullptr,
               w.bias);
  });
}

result<void> gemm_engine::attention_scores(head_view q, head_view k, const attention_shape& s,
                                           float scale, float* scores) {
  if (s.batch == 0) return {};
  return guarded("attention_scores", [&] {
    const std::int64_t b = i64(s.batch), h = i64(s.heads), d = i64(s.head_dim), lq = i64(s.q_len),
                       lk = i64(s.k_len);
    const auto q_md = f32_desc({b, h, lq, d}, {i64(q.batch_stride), d, i64(q.row_stride), 1});
    const auto k_md = f32_desc({b, h, d, lk}, {i64(k.batch_stride), d, 1, i64(k.row_stride)});
    const auto s_md = f32_desc({b, h, lq, lk}, {h * lq * lk, lq * lk, lk, 1});
    const tag_key key{1, b, h, d, lq, lk, i64(q.batch_stride), i64(q.row_stride),
                      i64(k.batch_stride), i64(k.row_stride)};
    // The scale is baked into the primitive: include its bits in the key.
    tag_key full = key;
    std::uint32_t bits;
    static_assert(sizeof bits == sizeof scale);
    std::memcpy(&bits, &scale, sizeof bits);
    full.push_back(bits);
    auto& prim = impl_->get(full, [&] {
      dnnl::primitive_attr attr = user_scratchpad_attr();
      attr.set_output_scales(0, {scale});
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, k_md, s_md), attr, impl_->eng);
    });
    impl_->run(prim, q_md, q.data, k_md, k.data, s_md, scores, nullptr, nullptr);
  });
}

result<void> gemm_engine::attention_context(const float* probs, head_view v, const attention_shape& s,
                                            float* ctx, std::size_t ctx_batch_stride,
                                            std::size_t ctx_row_stride) {
  if (s.batch == 0) return {};
  return guarded("attention_context", [&] {
    const std::int64_t b = i64(s.batch), h = i64(s.heads), d = i64(s.head_dim), lq = i64(s.q_len),
                       lk = i64(s.k_len);
    const auto p_md = f32_desc({b, h, lq, lk}, {h * lq * lk, lq * lk, lk, 1});
    const auto v_md = f32_desc({b, h, lk, d}, {i64(v.batch_stride), d, i64(v.row_stride), 1});
    const auto c_md = f32_desc({b, h, lq, d}, {i64(ctx_batch_stride), d, i64(ctx_row_stride), 1});
    const tag_key key{2, b, h, d, lq, lk, i64(v.batch_stride), i64(v.row_stride),
                      i64(ctx_batch_stride), i64(ctx_row_stride)};
    auto& prim = impl_->get(key, [&] {
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(p_md, v_md, c_md), user_scratchpad_attr(),
                                          impl_->eng);
    });
    impl_->run(prim, p_md, probs, v_md, v.data, c_md, ctx, nullptr, nullptr);
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
