//! The deterministic content of every image file the sample service did not
//! receive by upload.
//!
//! Byte `i` of a file is `i % 251`. The period is prime so that a proxy that
//! drops, repeats or reorders a power-of-two sized chunk changes the hash.
//! Chunks are windows into one static table, so a 1 GiB download allocates
//! nothing per chunk.

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Period of the file pattern.
const PERIOD: usize = 251;
/// Largest chunk [`chunk`] returns.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// `PERIOD` + `CHUNK_SIZE` bytes of the pattern: every chunk, whatever its
/// phase, is a contiguous window of this table.
static TABLE: [u8; PERIOD + CHUNK_SIZE] = build_table();

const fn build_table() -> [u8; PERIOD + CHUNK_SIZE] {
    let mut table = [0u8; PERIOD + CHUNK_SIZE];
    let mut i = 0;
    while i < table.len() {
        table[i] = (i % PERIOD) as u8;
        i += 1;
    }
    table
}

/// Byte `offset` of every generated image file (see the module doc).
pub fn sample_file_byte(offset: u64) -> u8 {
    (offset % PERIOD as u64) as u8
}

/// Up to [`CHUNK_SIZE`] bytes of the pattern starting at `offset`.
pub fn chunk(offset: u64, len: usize) -> Bytes {
    let phase = (offset % PERIOD as u64) as usize;
    let len = len.min(CHUNK_SIZE);
    Bytes::from_static(&TABLE[phase..phase + len])
}

/// SHA-256 (hex) of the first `size` bytes of the pattern.
pub fn pattern_sha256(size: u64) -> String {
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(CHUNK_SIZE as u64) as usize;
        hasher.update(chunk(offset, len));
        offset += len as u64;
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of a digest, as Glance's `os_hash_value`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks at any phase agree with `sample_file_byte`.
    #[test]
    fn chunks_follow_the_pattern() {
        for offset in [0u64, 1, 250, 251, 65_536, 1 << 30] {
            let c = chunk(offset, 1000);
            for (i, b) in c.iter().enumerate() {
                assert_eq!(*b, sample_file_byte(offset + i as u64));
            }
        }
        assert_eq!(chunk(7, CHUNK_SIZE * 2).len(), CHUNK_SIZE);
    }

    /// The hash of an empty file is SHA-256 of nothing.
    #[test]
    fn empty_hash() {
        assert_eq!(
            pattern_sha256(0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// Chunked hashing equals hashing the bytes one by one.
    #[test]
    fn chunked_hash_matches_bytewise() {
        let size = 200_000u64;
        let bytes: Vec<u8> = (0..size).map(sample_file_byte).collect();
        assert_eq!(pattern_sha256(size), hex(&Sha256::digest(&bytes)));
    }
}
