#include "inputs.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iostream>

namespace safetensors::cli {

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

result<std::vector<std::string>> read_text_inputs(const std::vector<std::string>& texts,
                                                  const std::string& file) {
  if (!texts.empty()) return texts;
  if (file.empty()) return read_lines(std::cin);
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(errc::io, fmt::format("{}: cannot open", file));
  return read_lines(in);
}

}  // namespace safetensors::cli
