#include "format_option.hpp"

#include <string>

namespace safetensors::cli {

void add_format_option(CLI::App& sub, std::optional<torch::checkpoint_format>& format) {
  sub.add_option_function<std::string>(
         "--format", [&format](const std::string& name) { format = torch::format_from_name(name); },
         "which weights of a folder holding both to read: safetensors (default) or pytorch")
      ->check(CLI::IsMember({"safetensors", "pytorch"}));
}

}  // namespace safetensors::cli
