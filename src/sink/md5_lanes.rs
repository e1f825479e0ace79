//! MD5 of several messages at once: the digests that close KPL aggregates.
//!
//! One MD5 is a chain of dependent steps, so a core runs it at ~0.6 GB/s whatever its width;
//! eight independent messages side by side, one per 32-bit lane, let the same instructions
//! work on all of them: eight lanes in one AVX2 register, where the CPU has AVX2 (checked at run
//! time; elsewhere the messages are hashed one at a time).
//! A batch of aggregates is ~10 messages of ~50 KiB; a MD5 of each was a sixth of an
//! aggregating flow's CPU.

use md5::{Digest, Md5};

const LANES: usize = 8;

/// Groups this small are hashed one by one: a pass over eight lanes costs about what two
/// messages cost alone.
const ALONE: usize = 2;

/// The MD5 digest of each of `messages`, in order.
pub fn digests(messages: &[&[u8]]) -> Vec<[u8; 16]> {
    let mut out = Vec::with_capacity(messages.len());
    for group in messages.chunks(LANES) {
        #[cfg(target_arch = "x86_64")]
        if group.len() > ALONE && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as checked just above; it is all `lanes` requires.
            #[allow(unsafe_code)]
            let lanes = unsafe { avx2::lanes(group) };
            out.extend_from_slice(&lanes[..group.len()]);
            continue;
        }
        out.extend(group.iter().map(|m| <[u8; 16]>::from(Md5::digest(m))));
    }
    out
}

/// Eight lanes in one AVX2 register.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// One 32-bit word of each of the eight lanes.
    #[derive(Clone, Copy)]
    struct V(__m256i);

    impl V {
        #[target_feature(enable = "avx2")]
        fn splat(x: u32) -> V {
            V(_mm256_set1_epi32(x as i32))
        }
        #[target_feature(enable = "avx2")]
        fn add(self, o: V) -> V {
            V(_mm256_add_epi32(self.0, o.0))
        }
        #[target_feature(enable = "avx2")]
        fn and(self, o: V) -> V {
            V(_mm256_and_si256(self.0, o.0))
        }
        /// `!self & o`
        #[target_feature(enable = "avx2")]
        fn and_not(self, o: V) -> V {
            V(_mm256_andnot_si256(self.0, o.0))
        }
        #[target_feature(enable = "avx2")]
        fn or(self, o: V) -> V {
            V(_mm256_or_si256(self.0, o.0))
        }
        #[target_feature(enable = "avx2")]
        fn xor(self, o: V) -> V {
            V(_mm256_xor_si256(self.0, o.0))
        }
        #[target_feature(enable = "avx2")]
        fn not(self) -> V {
            self.xor(V::splat(u32::MAX))
        }
        #[target_feature(enable = "avx2")]
        fn lane(self, n: usize) -> u32 {
            (match n {
                0 => _mm256_extract_epi32::<0>(self.0),
                1 => _mm256_extract_epi32::<1>(self.0),
                2 => _mm256_extract_epi32::<2>(self.0),
                3 => _mm256_extract_epi32::<3>(self.0),
                4 => _mm256_extract_epi32::<4>(self.0),
                5 => _mm256_extract_epi32::<5>(self.0),
                6 => _mm256_extract_epi32::<6>(self.0),
                _ => _mm256_extract_epi32::<7>(self.0),
            }) as u32
        }
    }

    #[target_feature(enable = "avx2")]
    fn f(x: V, y: V, z: V) -> V {
        x.and(y).or(x.and_not(z))
    }
    #[target_feature(enable = "avx2")]
    fn g(x: V, y: V, z: V) -> V {
        x.and(z).or(z.and_not(y))
    }
    #[target_feature(enable = "avx2")]
    fn h(x: V, y: V, z: V) -> V {
        x.xor(y).xor(z)
    }
    #[target_feature(enable = "avx2")]
    fn i(x: V, y: V, z: V) -> V {
        y.xor(x.or(z.not()))
    }

    /// The digests of up to eight messages, each in its lane; lanes past the group hash nothing.
    #[target_feature(enable = "avx2")]
    pub(super) fn lanes(group: &[&[u8]]) -> [[u8; 16]; LANES] {
        // Each message is its whole blocks, read in place, then one or two blocks of its
        // tail, the 0x80 byte, zeros and its length in bits.
        let mut whole = [0usize; LANES];
        let mut blocks = [0usize; LANES];
        let mut tails = [[0u8; 128]; LANES];
        for (n, m) in group.iter().enumerate().take(LANES) {
            whole[n] = m.len() / 64;
            blocks[n] = (m.len() + 8) / 64 + 1;
            let rest = &m[whole[n] * 64..];
            let tail = &mut tails[n][..(blocks[n] - whole[n]) * 64];
            tail[..rest.len()].copy_from_slice(rest);
            tail[rest.len()] = 0x80;
            let end = tail.len();
            tail[end - 8..].copy_from_slice(&(m.len() as u64).wrapping_mul(8).to_le_bytes());
        }
        let most = blocks.iter().copied().max().unwrap_or(0);
        let mut state = [
            V::splat(0x6745_2301),
            V::splat(0xefcd_ab89),
            V::splat(0x98ba_dcfe),
            V::splat(0x1032_5476),
        ];
        let mut done = [[0u32; 4]; LANES];
        let zero = [0u8; 64];
        for b in 0..most {
            let lane: [&[u8]; LANES] = std::array::from_fn(|n| {
                if b < whole[n] {
                    &group[n][b * 64..b * 64 + 64]
                } else if b < blocks[n] {
                    &tails[n][(b - whole[n]) * 64..][..64]
                } else {
                    &zero[..]
                }
            });
            let word = |n: usize, j: usize| {
                let w = &lane[n][j * 4..j * 4 + 4];
                u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as i32
            };
            let mut w = [V::splat(0); 16];
            for (j, v) in w.iter_mut().enumerate() {
                *v = V(_mm256_set_epi32(
                    word(7, j),
                    word(6, j),
                    word(5, j),
                    word(4, j),
                    word(3, j),
                    word(2, j),
                    word(1, j),
                    word(0, j),
                ));
            }
            compress(&mut state, &w);
            for (n, d) in done.iter_mut().enumerate() {
                if b + 1 == blocks[n] {
                    *d = [
                        state[0].lane(n),
                        state[1].lane(n),
                        state[2].lane(n),
                        state[3].lane(n),
                    ];
                }
            }
        }
        let mut out = [[0u8; 16]; LANES];
        for (o, d) in out.iter_mut().zip(done) {
            for (k, word) in d.iter().enumerate() {
                o[k * 4..k * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    /// The 64 steps of RFC 1321 over one block in every lane, added to the state.
    #[target_feature(enable = "avx2")]
    fn compress(state: &mut [V; 4], w: &[V; 16]) {
        let [mut a, mut b, mut c, mut d] = *state;
        // One step: `a = b + rotl(a + f(b, c, d) + k + w, s)`.
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $k:expr, $s:literal) => {
                let t = $a.add($f($b, $c, $d)).add(V::splat($k)).add(w[$x]);
                let r = V(_mm256_or_si256(
                    _mm256_slli_epi32::<$s>(t.0),
                    _mm256_srli_epi32::<{ 32 - $s }>(t.0),
                ));
                $a = $b.add(r);
            };
        }
        // Four steps at a time, the state words turning one place each step.
        macro_rules! round {
            ($f:ident;) => {};
            ($f:ident; ($x0:expr, $k0:expr, $s0:literal), ($x1:expr, $k1:expr, $s1:literal),
             ($x2:expr, $k2:expr, $s2:literal), ($x3:expr, $k3:expr, $s3:literal), $($rest:tt)*) => {
                step!($f, a, b, c, d, $x0, $k0, $s0);
                step!($f, d, a, b, c, $x1, $k1, $s1);
                step!($f, c, d, a, b, $x2, $k2, $s2);
                step!($f, b, c, d, a, $x3, $k3, $s3);
                round!($f; $($rest)*);
            };
        }
        round!(
            f;
            (0, 0xd76a_a478, 7),
            (1, 0xe8c7_b756, 12),
            (2, 0x2420_70db, 17),
            (3, 0xc1bd_ceee, 22),
            (4, 0xf57c_0faf, 7),
            (5, 0x4787_c62a, 12),
            (6, 0xa830_4613, 17),
            (7, 0xfd46_9501, 22),
            (8, 0x6980_98d8, 7),
            (9, 0x8b44_f7af, 12),
            (10, 0xffff_5bb1, 17),
            (11, 0x895c_d7be, 22),
            (12, 0x6b90_1122, 7),
            (13, 0xfd98_7193, 12),
            (14, 0xa679_438e, 17),
            (15, 0x49b4_0821, 22),
        );
        round!(
            g;
            (1, 0xf61e_2562, 5),
            (6, 0xc040_b340, 9),
            (11, 0x265e_5a51, 14),
            (0, 0xe9b6_c7aa, 20),
            (5, 0xd62f_105d, 5),
            (10, 0x0244_1453, 9),
            (15, 0xd8a1_e681, 14),
            (4, 0xe7d3_fbc8, 20),
            (9, 0x21e1_cde6, 5),
            (14, 0xc337_07d6, 9),
            (3, 0xf4d5_0d87, 14),
            (8, 0x455a_14ed, 20),
            (13, 0xa9e3_e905, 5),
            (2, 0xfcef_a3f8, 9),
            (7, 0x676f_02d9, 14),
            (12, 0x8d2a_4c8a, 20),
        );
        round!(
            h;
            (5, 0xfffa_3942, 4),
            (8, 0x8771_f681, 11),
            (11, 0x6d9d_6122, 16),
            (14, 0xfde5_380c, 23),
            (1, 0xa4be_ea44, 4),
            (4, 0x4bde_cfa9, 11),
            (7, 0xf6bb_4b60, 16),
            (10, 0xbebf_bc70, 23),
            (13, 0x289b_7ec6, 4),
            (0, 0xeaa1_27fa, 11),
            (3, 0xd4ef_3085, 16),
            (6, 0x0488_1d05, 23),
            (9, 0xd9d4_d039, 4),
            (12, 0xe6db_99e5, 11),
            (15, 0x1fa2_7cf8, 16),
            (2, 0xc4ac_5665, 23),
        );
        round!(
            i;
            (0, 0xf429_2244, 6),
            (7, 0x432a_ff97, 10),
            (14, 0xab94_23a7, 15),
            (5, 0xfc93_a039, 21),
            (12, 0x655b_59c3, 6),
            (3, 0x8f0c_cc92, 10),
            (10, 0xffef_f47d, 15),
            (1, 0x8584_5dd1, 21),
            (8, 0x6fa8_7e4f, 6),
            (15, 0xfe2c_e6e0, 10),
            (6, 0xa301_4314, 15),
            (13, 0x4e08_11a1, 21),
            (4, 0xf753_7e82, 6),
            (11, 0xbd3a_f235, 10),
            (2, 0x2ad7_d2bb, 15),
            (9, 0xeb86_d391, 21),
        );
        for (s, x) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.add(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one_by_one(messages: &[&[u8]]) -> Vec<[u8; 16]> {
        messages.iter().map(|m| Md5::digest(m).into()).collect()
    }

    #[test]
    fn every_padding_boundary_gives_the_digest_of_the_message_alone() {
        // Lengths around the block and padding boundaries, all in one group and mixed.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        let lengths = [
            0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 200, 300,
        ];
        let messages: Vec<&[u8]> = lengths.iter().map(|&n| &data[..n]).collect();
        assert_eq!(digests(&messages), one_by_one(&messages));
        for group in lengths.windows(8) {
            let messages: Vec<&[u8]> = group.iter().map(|&n| &data[..n]).collect();
            assert_eq!(digests(&messages), one_by_one(&messages));
        }
    }

    #[test]
    fn a_known_answer() {
        // RFC 1321's test suite.
        let messages: [&[u8]; 4] = [
            b"",
            b"abc",
            b"message digest",
            b"abcdefghijklmnopqrstuvwxyz",
        ];
        let hex: Vec<String> = digests(&messages)
            .iter()
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        assert_eq!(
            hex,
            [
                "d41d8cd98f00b204e9800998ecf8427e",
                "900150983cd24fb0d6963f7d28e17f72",
                "f96b697d7cb7938d525a2f31aaf161d0",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ]
        );
    }

    proptest! {
        #[test]
        fn the_digests_are_those_of_each_message_alone(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 0..20)
        ) {
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(digests(&messages), one_by_one(&messages));
        }
    }
}
