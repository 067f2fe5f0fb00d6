// The malloc policy of a safetensors-cli process. The libraries never tune malloc (the process
// is their caller's); the CLI's process is its own, and its cold path on a big header (a
// 100,000-tensor file: ~8 MB of names and shapes in 200,000 small blocks, tens of MB of
// buffers) is dominated by first-touch page faults, one per fresh 4 KiB page.
#pragma once

namespace safetensors::cli {

/// glibc only (no effect elsewhere), called once at the start of main: blocks below 32 MiB come
/// from the heap (not one fresh mmap each), every thread allocates from that one heap, and it grows
/// in one step by 64 MiB that are advised for transparent huge pages, so memory it hands out faults
/// in 2 MiB pages. The memory is reserved, not touched: a command that allocates little stays as
/// small.
void use_cli_heap_policy() noexcept;

}  // namespace safetensors::cli
