//! A stable 64-bit hasher for the state hash: the same state gives the same hash on every run
//! and every machine of the same endianness. (std's `DefaultHasher` makes no such promise.)

use std::hash::Hasher;

/// FNV-1a over bytes, with whole words mixed in one step so hashing a large state stays fast.
#[derive(Debug, Clone)]
pub struct StableHasher {
    state: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher { state: FNV_OFFSET }
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        // A final avalanche so that nearby states do not give nearby hashes.
        let mut x = self.state;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.state ^= u64::from(byte);
            self.state = self.state.wrapping_mul(FNV_PRIME);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.state ^= word;
        self.state = self.state.wrapping_mul(FNV_PRIME).rotate_left(29);
    }

    fn write_i64(&mut self, word: i64) {
        self.write_u64(word as u64);
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(u64::from(word));
    }

    fn write_u16(&mut self, word: u16) {
        self.write_u64(u64::from(word));
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_i128(&mut self, word: i128) {
        self.write_u64(word as u64);
        self.write_u64((word >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash_of<T: Hash>(value: &T) -> u64 {
        let mut hasher = StableHasher::default();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn same_value_same_hash_and_different_values_differ() {
        assert_eq!(hash_of(&(1u64, "a")), hash_of(&(1u64, "a")));
        assert_ne!(hash_of(&(1u64, "a")), hash_of(&(2u64, "a")));
        assert_ne!(hash_of(&vec![1i64, 2]), hash_of(&vec![2i64, 1]));
    }

    #[test]
    fn hash_is_stable_across_releases() {
        // Pinned: a snapshot's recorded hash must stay comparable after an upgrade.
        assert_eq!(hash_of(&12345u64), 17_697_414_060_965_513_337);
    }
}
