//! reference_peer: a model of what Hugging Face's Rust `safetensors` crate does when a Rust
//! process opens a file and deserializes it, for bench/cli_start_bench.py to time against
//! `safetensors-cli validate` / `inspect` as whole processes.
//!
//! This is NOT the crate: crates.io cannot be reached on the project's machines and Debian 12
//! does not package `safetensors`. It is a small program written for this project on the same
//! building blocks the crate uses (serde derive, serde_json, memmap2, std HashMap), taken from
//! Debian's librust-*-dev packages, that repeats the crate's steps (as read in its public source,
//! safetensors/src/tensor.rs, versions 0.5-0.7):
//!
//! - open: `File::open`, then memory-map the whole file (memmap2 `MmapOptions::new().map`, as
//!   the crate's documentation does) and hand the mapped bytes to the deserializer;
//! - fewer than 8 bytes -> HeaderTooSmall; the first 8 bytes are the header length N, a u64
//!   little endian; N not fitting usize or N > 100,000,000 -> HeaderTooLarge; N + 8 overflowing
//!   or beyond the end of the file -> InvalidHeaderLength;
//! - the N header bytes must be UTF-8 (InvalidHeader); no check that they start with `{` (the
//!   crate has that check commented out);
//! - serde_json parses the header straight into the crate's data model: a struct with an
//!   optional `__metadata__` map of string -> string and, through `#[serde(flatten)]`, a
//!   HashMap of tensor name -> {dtype: an enum of the crate's dtype names, shape: Vec<usize>,
//!   data_offsets: (usize, usize)}; unknown fields inside a tensor entry are ignored, a repeated
//!   name keeps the last entry, anything else malformed -> InvalidHeaderDeserialization;
//! - the (name, info) pairs are collected into a Vec and stably sorted by data_offsets, a
//!   HashMap name -> index is built, and the list is validated (the crate validates it when the
//!   metadata is built and again in read_metadata; this does both): walking in offset order,
//!   each tensor must start where the previous one ended (the first at 0) and not end before it
//!   starts (InvalidOffset naming the tensor, found by a scan of the name map); the element count
//!   is the product of the shape with overflow checks, times the dtype's size in bits, checked
//!   (ValidationOverflow); bits not a multiple of 8 -> MisalignedSlice; end - start must equal
//!   bits / 8 (TensorInvalidInfo);
//! - the last tensor's end + 8 + N must equal the file size (MetadataIncompleteBuffer).
//!
//! Usage: reference_peer validate FILE   exit 0 and "OK FILE (K tensors)", or exit 1 and one line
//!        reference_peer inspect FILE    one line per tensor in offset order: name, dtype, shape;
//!                                       then "K tensors" (output through one buffered writer)
//! Errors are printed as the crate's Display prints them (its Debug form), prefixed by the file.

use memmap2::MmapOptions;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

/// The crate's header-size limit.
const HEADER_LIMIT: usize = 100_000_000;
const LEN_BYTES: usize = std::mem::size_of::<u64>();

#[derive(Debug)]
enum PeerError {
    Io(io::Error),
    HeaderTooSmall,
    HeaderTooLarge,
    InvalidHeaderLength,
    InvalidHeader(std::str::Utf8Error),
    InvalidHeaderDeserialization(serde_json::Error),
    InvalidOffset(String),
    ValidationOverflow,
    MisalignedSlice,
    TensorInvalidInfo,
    MetadataIncompleteBuffer,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The crate's dtype names; the order is the crate's (increasing alignment).
#[allow(non_camel_case_types)]
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dtype {
    BOOL,
    F4,
    F6_E2M3,
    F6_E3M2,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    F8_E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

impl Dtype {
    fn bits(self) -> usize {
        use Dtype::*;
        match self {
            F4 => 4,
            F6_E2M3 | F6_E3M2 => 6,
            BOOL | U8 | I8 | F8_E5M2 | F8_E4M3 | F8_E8M0 => 8,
            I16 | U16 | F16 | BF16 => 16,
            I32 | U32 | F32 => 32,
            C64 | F64 | I64 | U64 => 64,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Info {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// The header as serde_json reads it: the same shape as the crate's helper struct.
#[derive(Deserialize)]
struct RawHeader {
    #[serde(rename = "__metadata__")]
    metadata: Option<HashMap<String, String>>,
    #[serde(flatten)]
    tensors: HashMap<String, Info>,
}

/// The deserialized header: tensors in offset order plus the name -> position map.
struct Header {
    #[allow(dead_code)] // held like the crate holds it; neither command prints it
    metadata: Option<HashMap<String, String>>,
    infos: Vec<Info>,
    positions: HashMap<String, usize>,
}

impl Header {
    fn build(raw: RawHeader) -> Result<Header, PeerError> {
        let mut pairs: Vec<(String, Info)> = raw.tensors.into_iter().collect();
        pairs.sort_by(|a, b| a.1.data_offsets.cmp(&b.1.data_offsets));
        let mut positions = HashMap::with_capacity(pairs.len());
        let mut infos = Vec::with_capacity(pairs.len());
        for (position, (name, info)) in pairs.into_iter().enumerate() {
            positions.insert(name, position);
            infos.push(info);
        }
        let header = Header {
            metadata: raw.metadata,
            infos,
            positions,
        };
        header.check()?;
        Ok(header)
    }

    /// Returns the end of the data section the tensors cover.
    fn check(&self) -> Result<usize, PeerError> {
        let mut expected_start = 0usize;
        for (position, info) in self.infos.iter().enumerate() {
            let (start, end) = info.data_offsets;
            if start != expected_start || end < start {
                let name = self
                    .positions
                    .iter()
                    .find(|(_, &p)| p == position)
                    .map(|(n, _)| n.as_str())
                    .unwrap_or("no_tensor");
                return Err(PeerError::InvalidOffset(name.to_string()));
            }
            expected_start = end;
            let mut elements = 1usize;
            for &dim in &info.shape {
                elements = elements
                    .checked_mul(dim)
                    .ok_or(PeerError::ValidationOverflow)?;
            }
            let bits = elements
                .checked_mul(info.dtype.bits())
                .ok_or(PeerError::ValidationOverflow)?;
            if bits % 8 != 0 {
                return Err(PeerError::MisalignedSlice);
            }
            if end - start != bits / 8 {
                return Err(PeerError::TensorInvalidInfo);
            }
        }
        Ok(expected_start)
    }

    fn names_in_offset_order(&self) -> Vec<&str> {
        let mut names = vec![""; self.positions.len()];
        for (name, &position) in &self.positions {
            names[position] = name.as_str();
        }
        names
    }
}

/// Deserializes a whole file held in `bytes`; returns the header and the data section.
fn deserialize(bytes: &[u8]) -> Result<(Header, &[u8]), PeerError> {
    if bytes.len() < LEN_BYTES {
        return Err(PeerError::HeaderTooSmall);
    }
    let mut len_field = [0u8; LEN_BYTES];
    len_field.copy_from_slice(&bytes[..LEN_BYTES]);
    let n: usize = u64::from_le_bytes(len_field)
        .try_into()
        .map_err(|_| PeerError::HeaderTooLarge)?;
    if n > HEADER_LIMIT {
        return Err(PeerError::HeaderTooLarge);
    }
    let header_end = n
        .checked_add(LEN_BYTES)
        .ok_or(PeerError::InvalidHeaderLength)?;
    let header_bytes = bytes
        .get(LEN_BYTES..header_end)
        .ok_or(PeerError::InvalidHeaderLength)?;
    let text = std::str::from_utf8(header_bytes).map_err(PeerError::InvalidHeader)?;
    let raw: RawHeader =
        serde_json::from_str(text).map_err(PeerError::InvalidHeaderDeserialization)?;
    let header = Header::build(raw)?;
    let data_end = header.check()?;
    if data_end + LEN_BYTES + n != bytes.len() {
        return Err(PeerError::MetadataIncompleteBuffer);
    }
    Ok((header, &bytes[header_end..]))
}

fn run(command: &str, path: &str) -> Result<(), PeerError> {
    let file = File::open(path).map_err(PeerError::Io)?;
    // SAFETY: the file is only read while mapped; like the crate's users, this accepts that
    // another process changing the file meanwhile would change what is read.
    let mapped = unsafe { MmapOptions::new().map(&file) }.map_err(PeerError::Io)?;
    let (header, data) = deserialize(&mapped)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = if command == "inspect" {
        let names = header.names_in_offset_order();
        let mut result = Ok(());
        for (name, info) in names.iter().zip(&header.infos) {
            // The view a caller gets: dtype, shape and the tensor's bytes.
            let bytes = &data[info.data_offsets.0..info.data_offsets.1];
            result = writeln!(
                out,
                "{name} {:?} {:?} {}",
                info.dtype,
                info.shape,
                bytes.len()
            );
            if result.is_err() {
                break;
            }
        }
        result.and_then(|_| writeln!(out, "{} tensors", header.infos.len()))
    } else {
        writeln!(out, "OK {path} ({} tensors)", header.infos.len())
    };
    written.and_then(|_| out.flush()).map_err(PeerError::Io)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || (args[1] != "validate" && args[1] != "inspect") {
        eprintln!("usage: reference_peer validate|inspect FILE");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reference_peer: {}: {error}", args[2]);
            ExitCode::FAILURE
        }
    }
}
