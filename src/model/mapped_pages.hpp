// Residency of a checkpoint's read-only file mapping (private): the model reads most of its
// bytes once (packing), a few rows often (embeddings), and keeps in memory only what it uses.
#pragma once

#include <cstddef>

namespace safetensors::model::detail {

/// Drops the whole pages inside [data, data + bytes) of a read-only file mapping from this
/// process's memory (madvise MADV_DONTNEED): a later read faults them back in from the page
/// cache. Never call it on anything but a file mapping (anonymous pages would read as zeros).
void release_mapped_pages(const void* data, std::size_t bytes) noexcept;

/// Maps the pages of [data, data + bytes) of a file mapping in one call (MADV_POPULATE_READ)
/// before a full sequential read: cheaper than faulting them one at a time. A hint only.
void populate_mapped_pages(const void* data, std::size_t bytes) noexcept;

/// Asks the kernel to map the pages overlapping [data, data + bytes) of a file mapping one
/// 4 KiB page at a time (MADV_NOHUGEPAGE). Where the page cache holds 2 MiB folios, a read fault
/// otherwise maps the whole 2 MiB around the address: one embedding row looked up, or a
/// weight's neighbour populated, would make 2 MiB of the file resident again, also pages
/// release_mapped_pages dropped. A hint only.
void map_with_small_pages(const void* data, std::size_t bytes) noexcept;

}  // namespace safetensors::model::detail
