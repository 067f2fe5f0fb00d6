// Prometheus metrics (text exposition format 0.0.4), named as text-embeddings-inference names
// them (te_*; docs/DEPLOY.md "Metrics") minus its double-counting quirk.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace safetensors::server::detail {

class metrics {
 public:
  metrics();
  /// Adds to a counter; `labels` is the inside of {...}, e.g. `method="single"` (may be empty).
  void inc(std::string_view name, std::string_view labels = {}, std::uint64_t by = 1);
  void observe(std::string_view name, double value);
  void set_gauge(std::string_view name, double value);
  /// The whole registry in Prometheus text format.
  std::string render() const;

 private:
  struct histogram {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;  ///< per bucket (not cumulative); size bounds + 1
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct family {
    std::string help;
    enum class type { counter, gauge, histogram } kind = type::counter;
    std::map<std::string, std::uint64_t, std::less<>> counters;  ///< by label set
    double gauge_value = 0;
    histogram h;
  };
  void add(std::string name, std::string help, family f);
  mutable std::mutex mutex_;
  std::map<std::string, family, std::less<>> families_;
};

/// Geometric bucket bounds: start, start*factor, ... (count bounds).
std::vector<double> geometric_buckets(double start, double factor, std::size_t count);

}  // namespace safetensors::server::detail
