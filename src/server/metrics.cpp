#include "server/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace safetensors::server::detail {

std::vector<double> geometric_buckets(double start, double factor, std::size_t count) {
  std::vector<double> b;
  b.reserve(count);
  for (double v = start; b.size() < count; v *= factor) b.push_back(v);
  return b;
}

void metrics::add(std::string name, std::string help, family f) {
  f.help = std::move(help);
  if (f.kind == family::type::histogram) f.h.counts.assign(f.h.bounds.size() + 1, 0);
  families_.emplace(std::move(name), std::move(f));
}

metrics::metrics() {
  auto counter = [this](const char* name, const char* help) { add(name, help, family{}); };
  auto hist = [this](const char* name, const char* help, std::vector<double> bounds) {
    family f;
    f.kind = family::type::histogram;
    f.h.bounds = std::move(bounds);
    add(name, help, std::move(f));
  };
  // TEI: 35 geometric buckets from 15 us, x1.5 (up to ~22 min).
  const auto seconds = geometric_buckets(1.5e-5, 1.5, 35);
  counter("te_request_count", "Requests received, by method (single or batch)");
  counter("te_request_success", "Requests answered with 2xx, by method");
  counter("te_request_failure", "Requests answered with an error, by cause");
  counter("te_predict_count", "Inputs received by /predict");
  counter("te_predict_success", "Inputs classified");
  hist("te_request_duration", "End-to-end request duration in seconds", seconds);
  hist("te_request_tokenization_duration", "Tokenization time per input in seconds", seconds);
  hist("te_request_queue_duration", "Time an input waited in the batching queue in seconds",
       seconds);
  hist("te_request_inference_duration", "Inference time of the batch an input ran in, in seconds",
       seconds);
  hist("te_request_input_length", "Tokens per input", geometric_buckets(1, 2, 10));
  hist("te_batch_next_size", "Inputs per inference batch", geometric_buckets(1, 2, 13));
  hist("te_batch_next_tokens", "Padded tokens per inference batch", geometric_buckets(1, 2, 21));
  family g;
  g.kind = family::type::gauge;
  add("te_queue_size", "Inputs waiting in the batching queue", g);
}

void metrics::inc(std::string_view name, std::string_view labels, std::uint64_t by) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  auto c = it->second.counters.find(labels);
  if (c == it->second.counters.end()) c = it->second.counters.emplace(std::string(labels), 0).first;
  c->second += by;
}

void metrics::observe(std::string_view name, double value) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  histogram& h = it->second.h;
  const auto bucket = std::lower_bound(h.bounds.begin(), h.bounds.end(), value) - h.bounds.begin();
  ++h.counts[static_cast<std::size_t>(bucket)];
  h.sum += value;
  ++h.count;
}

void metrics::set_gauge(std::string_view name, double value) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.gauge_value = value;
}

std::string metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == family::type::counter ? "counter"
                       : f.kind == family::type::gauge ? "gauge"
                                                       : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    if (f.kind == family::type::counter) {
      if (f.counters.empty()) out += fmt::format("{} 0\n", name);
      for (const auto& [labels, v] : f.counters) {
        out += labels.empty() ? fmt::format("{} {}\n", name, v)
                              : fmt::format("{}{{{}}} {}\n", name, labels, v);
      }
    } else if (f.kind == family::type::gauge) {
      out += fmt::format("{} {}\n", name, f.gauge_value);
    } else {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < f.h.bounds.size(); ++i) {
        cumulative += f.h.counts[i];
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, f.h.bounds[i], cumulative);
      }
      out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, f.h.count,
                         name, f.h.sum, name, f.h.count);
    }
  }
  return out;
}

}  // namespace safetensors::server::detail
