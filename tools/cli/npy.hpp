// NumPy .npy output (format version 1.0, or 2.0 for a header above 64 KiB): what `get` writes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "safetensors/dtype.hpp"

namespace safetensors::cli {

/// The NumPy dtype string ("<f4", "|b1", "<c8", ...) of a safetensors dtype; nullopt for BF16,
/// the F8/F6/F4 variants, which NumPy itself does not have.
std::optional<std::string_view> npy_descr(dtype t) noexcept;

/// Magic, version, header length and the header dict (C order), padded so the data starts on
/// a multiple of 64 bytes; the row-major little-endian bytes follow it.
std::string npy_header(std::string_view descr, std::span<const std::uint64_t> shape);

}  // namespace safetensors::cli
