// Text inputs of the model commands (classify, tokenize): the texts given as arguments, or one
// per line from --file or stdin.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "safetensors/error.hpp"

namespace safetensors::cli {

/// Lines of a stream ('\n' separated; a trailing '\r' is dropped; no empty last line).
std::vector<std::string> read_lines(std::istream& in);

/// `texts` when not empty; otherwise the lines of `file` (io error naming it when it cannot be
/// opened), or of stdin when `file` is empty.
result<std::vector<std::string>> read_text_inputs(const std::vector<std::string>& texts,
                                                  const std::string& file);

}  // namespace safetensors::cli
