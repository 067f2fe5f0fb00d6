// Python's tarfile acceptance of a first header block (Lib/tarfile.py TarInfo.frombuf, nti,
// calc_chksums): torch.load tries tarfile before the legacy pickle stream.
#pragma once

#include <cstddef>
#include <span>

namespace safetensors::torch::detail {

/// True when tarfile.open(mode="r:") reads the first 512 bytes as a member header: the block is
/// complete and not all NUL, the checksum field equals the unsigned or the signed sum of the
/// block (checksum field counted as spaces), and every number field frombuf parses (mode, uid,
/// gid, size, mtime, devmajor, devminor; the GNU sparse fields for type 'S') is a valid `nti`
/// value: base-256 (first byte 0x80/0xff) or ASCII text up to the first NUL that Python's
/// int(text.strip() or "0", 8) accepts. No "ustar" magic is needed (old V7 headers).
bool is_tar_header(std::span<const std::byte> file) noexcept;

}  // namespace safetensors::torch::detail
