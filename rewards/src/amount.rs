//! Money: `Amount`, an integer of base units with checked arithmetic. No floating point
//! ever touches a balance or a stake.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Base units in one MASA (nine decimals).
pub const UNITS_PER_MASA: u128 = 1_000_000_000;

/// The most base units that can ever exist (2^100, about 1.3e21 MASA). Genesis and every
/// emission keep the supply at or below it, so every product the protocol forms (a
/// weight times a conviction, a stake times a million) fits in 128 bits.
pub const MAX_SUPPLY: u128 = 1 << 100;

/// An amount of MASA in base units. Serialized as a decimal string of base units, so
/// readers in languages without 128-bit integers lose nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub u128);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn masa(whole: u64) -> Amount {
        Amount(u128::from(whole) * UNITS_PER_MASA)
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self × parts / whole`, rounded down; `None` when `whole` is zero. The product is
    /// taken in 256 bits, so it never overflows.
    pub fn mul_div(self, parts: u128, whole: u128) -> Option<Amount> {
        if whole == 0 {
            return None;
        }
        Some(Amount(mul_div_u128(self.0, parts, whole)))
    }

    /// `self × bps / 10 000`, rounded down.
    pub fn bps(self, bps: u32) -> Amount {
        Amount(mul_div_u128(self.0, u128::from(bps), 10_000))
    }

    /// Parses a user's amount in MASA: `1000`, `0.5`, `12.000000001` (at most nine decimals).
    pub fn parse_masa(text: &str) -> Result<Amount, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "{text:?} is not an amount of MASA (digits, optionally a point and up to 9 decimals)"
            )
        };
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        if frac.len() > 9 {
            return Err(format!(
                "{text:?} has more than 9 decimals (the smallest unit is 0.000000001)"
            ));
        }
        let w: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let f: u128 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().map_err(|_| bad())?
        };
        w.checked_mul(UNITS_PER_MASA)
            .and_then(|w| w.checked_add(f))
            .map(Amount)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

/// `a × b / c` for `c > 0` without overflow (the quotient fits when `b ≤ c`, which every
/// caller guarantees; otherwise it saturates).
fn mul_div_u128(a: u128, b: u128, c: u128) -> u128 {
    // Split into 64-bit halves and do schoolbook multiplication into 256 bits.
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let lo = (p00 & u128::from(u64::MAX)) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    if hi == 0 {
        return lo / c;
    }
    if hi >= c {
        return u128::MAX;
    }
    // Long division of (hi, lo) by c, bit by bit: rare path (amounts above 2^64 units).
    let mut rem = hi;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            q |= 1;
        }
    }
    q
}

impl std::fmt::Display for Amount {
    /// In MASA with up to nine decimals, trailing zeros dropped: `1000`, `0.5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = self.0 / UNITS_PER_MASA;
        let frac = self.0 % UNITS_PER_MASA;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return Err(serde::de::Error::custom(format!(
                "amount {s:?} is not a canonical decimal string of base units"
            )));
        }
        s.parse::<u128>()
            .map(Amount)
            .map_err(|_| serde::de::Error::custom(format!("amount {s:?} is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_masa() {
        assert_eq!(Amount::parse_masa("1000").unwrap(), Amount::masa(1000));
        assert_eq!(Amount::parse_masa("0.5").unwrap(), Amount(500_000_000));
        assert_eq!(Amount::parse_masa(".000000001").unwrap(), Amount(1));
        assert_eq!(Amount(1_500_000_000).to_string(), "1.5");
        assert_eq!(Amount::masa(7).to_string(), "7");
        for bad in ["", ".", "-1", "1e3", "1.0000000001", "abc", "1.2.3"] {
            assert!(Amount::parse_masa(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serializes_as_canonical_string() {
        assert_eq!(serde_json::to_string(&Amount(42)).unwrap(), "\"42\"");
        assert_eq!(
            serde_json::from_str::<Amount>("\"42\"").unwrap(),
            Amount(42)
        );
        for bad in ["\"042\"", "\"\"", "\"-1\"", "42", "\"1 \""] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn mul_div_matches_wide_arithmetic(a in any::<u64>(), b in any::<u32>(), c in 1u64..) {
            let b = u128::from(b).min(u128::from(c));
            let want = u128::from(a) * b / u128::from(c);
            prop_assert_eq!(Amount(u128::from(a)).mul_div(b, u128::from(c)), Some(Amount(want)));
        }

        #[test]
        fn mul_div_on_huge_amounts_never_exceeds_the_amount(a in any::<u128>(), b in any::<u128>(), c in 1u128..) {
            let b = b.min(c);
            let q = mul_div_u128(a, b, c);
            prop_assert!(q <= a);
            if b == c { prop_assert_eq!(q, a); }
        }
    }
}
