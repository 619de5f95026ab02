//! HMAC-SHA256 (RFC 2104) over SHA-256's compression function, with the key's inner and
//! outer blocks compressed once. Pseudonyms are short values: this needs two compressions
//! per value and no per-call state copies beyond two 32-byte states, which general HMAC
//! APIs spend more on than on the hashing itself (measured in BENCHMARKS.md).

use sha2::block_api::compress256;
use sha2::digest::Digest;
use sha2::Sha256;

const BLOCK: usize = 64;
const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A key, ready to authenticate many messages.
#[derive(Clone)]
pub struct HmacSha256 {
    /// State after the key XOR ipad block.
    inner: [u32; 8],
    /// State after the key XOR opad block.
    outer: [u32; 8],
}

impl HmacSha256 {
    /// Prepares `key` (any length; longer than a block is hashed first, as RFC 2104 says).
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let keyed = |pad: u8| {
            let mut state = INITIAL_STATE;
            compress256(&mut state, &[block.map(|b| b ^ pad)]);
            state
        };
        HmacSha256 {
            inner: keyed(0x36),
            outer: keyed(0x5c),
        }
    }

    /// The 32-byte tag of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let inner = finish(self.inner, message);
        digest_bytes(&finish(self.outer, &digest_bytes(&inner)))
    }
}

/// Hashes `message` from `state` (which has absorbed one block already) with SHA-256's
/// padding, returning the final state.
fn finish(mut state: [u32; 8], message: &[u8]) -> [u32; 8] {
    let (full, rest) = message.as_chunks::<BLOCK>();
    compress256(&mut state, full);
    let bits = ((BLOCK + message.len()) as u64) * 8;
    let mut tail = [[0u8; BLOCK]; 2];
    let flat = tail.as_flattened_mut();
    flat[..rest.len()].copy_from_slice(rest);
    flat[rest.len()] = 0x80;
    // One padding block if the length still fits after the 0x80 byte, else two.
    let blocks = if rest.len() < BLOCK - 8 { 1 } else { 2 };
    flat[blocks * BLOCK - 8..blocks * BLOCK].copy_from_slice(&bits.to_be_bytes());
    compress256(&mut state, &tail[..blocks]);
    state
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 4231 test cases 1, 2, 6 and 7 (keys shorter and longer than a block, messages
    /// shorter and longer than a block).
    #[test]
    fn rfc_4231_vectors() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (&[0xaa; 131], b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, message, expected) in cases {
            assert_eq!(hex(&HmacSha256::new(key).sign(message)), expected);
        }
    }

    /// Every message length across the padding boundaries agrees with an independent
    /// implementation (ring's HMAC).
    #[test]
    fn agrees_with_a_reference_implementation_at_every_length() {
        let key = b"meshplane-test-key";
        let ours = HmacSha256::new(key);
        let reference = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
        let message: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..message.len() {
            let expected = ring::hmac::sign(&reference, &message[..len]);
            assert_eq!(
                ours.sign(&message[..len]).as_slice(),
                expected.as_ref(),
                "length {len}"
            );
        }
    }
}
