//! Weights for an on-chain `set_weights`: u16 values that sum to 65 535, by the largest
//! remainder method (deterministic: ties go to the lower index).

/// Scales non-negative integer `shares` to u16 weights summing to `u16::MAX` (all zero when
/// every share is zero).
pub fn to_u16(shares: &[u64]) -> Vec<u16> {
    let total: u128 = shares.iter().map(|s| u128::from(*s)).sum();
    if total == 0 {
        return vec![0; shares.len()];
    }
    let target = u128::from(u16::MAX);
    let mut out: Vec<u16> = Vec::with_capacity(shares.len());
    let mut rest: Vec<(u128, usize)> = Vec::with_capacity(shares.len());
    for (i, s) in shares.iter().enumerate() {
        let scaled = u128::from(*s) * target;
        out.push((scaled / total) as u16);
        rest.push((scaled % total, i));
    }
    let assigned: u128 = out.iter().map(|w| u128::from(*w)).sum();
    // Largest remainders first; equal remainders by index.
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rest.into_iter().take((target - assigned) as usize) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_examples() {
        assert_eq!(to_u16(&[1, 1, 1]), vec![21845, 21845, 21845]);
        assert_eq!(to_u16(&[1, 1]), vec![32768, 32767]);
        assert_eq!(to_u16(&[3, 0, 1]), vec![49151, 0, 16384]);
        assert_eq!(to_u16(&[0, 0]), vec![0, 0]);
        assert_eq!(to_u16(&[]), Vec::<u16>::new());
    }

    proptest! {
        #[test]
        fn sums_to_u16_max_and_keeps_order(shares in proptest::collection::vec(0u64..1_000_000_000, 1..50)) {
            let w = to_u16(&shares);
            let sum: u64 = w.iter().map(|x| u64::from(*x)).sum();
            if shares.iter().any(|s| *s > 0) {
                prop_assert_eq!(sum, 65535);
            } else {
                prop_assert_eq!(sum, 0);
            }
            for i in 0..shares.len() {
                for j in 0..shares.len() {
                    if shares[i] > shares[j] { prop_assert!(w[i] >= w[j]); }
                    if shares[i] == 0 { prop_assert_eq!(w[i], 0); }
                }
            }
        }
    }
}
