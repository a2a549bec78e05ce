//! Country codes packed into a small integer and sets of them as bitsets, so
//! that group algebra and membership tests cost a few word operations.

use std::fmt;

const LETTERS: u16 = 26;
const WORDS: usize = (LETTERS as usize * LETTERS as usize).div_ceil(64);

/// An ISO 3166-1 alpha-2 shaped code (two upper-case ASCII letters).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Cc(u16);

impl Cc {
    /// Only the shape is checked; whether the code is assigned is the rule
    /// book's business.
    pub(crate) fn parse(code: &str) -> Option<Cc> {
        match code.as_bytes() {
            [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
                Some(Cc(u16::from(a - b'A') * LETTERS + u16::from(b - b'A')))
            }
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        // Every two-letter code as one static table, so that turning a code
        // back into text never allocates.
        static TABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| {
            (0..LETTERS * LETTERS)
                .flat_map(|i| {
                    [
                        (b'A' + (i / LETTERS) as u8) as char,
                        (b'A' + (i % LETTERS) as u8) as char,
                    ]
                })
                .collect()
        });
        let start = usize::from(self.0) * 2;
        &table[start..start + 2]
    }
}

impl fmt::Debug for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CountrySet([u64; WORDS]);

impl CountrySet {
    pub(crate) const EMPTY: CountrySet = CountrySet([0; WORDS]);

    pub(crate) fn insert(&mut self, c: Cc) {
        self.0[usize::from(c.0) / 64] |= 1 << (c.0 % 64);
    }

    pub(crate) fn remove(&mut self, c: Cc) {
        self.0[usize::from(c.0) / 64] &= !(1 << (c.0 % 64));
    }

    pub(crate) fn contains(&self, c: Cc) -> bool {
        self.0[usize::from(c.0) / 64] & (1 << (c.0 % 64)) != 0
    }

    pub(crate) fn union(mut self, other: &CountrySet) -> CountrySet {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a |= b);
        self
    }

    pub(crate) fn minus(mut self, other: &CountrySet) -> CountrySet {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a &= !b);
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Cc> + '_ {
        (0..LETTERS * LETTERS).map(Cc).filter(|c| self.contains(*c))
    }
}

impl FromIterator<Cc> for CountrySet {
    fn from_iter<I: IntoIterator<Item = Cc>>(iter: I) -> Self {
        let mut set = CountrySet::EMPTY;
        iter.into_iter().for_each(|c| set.insert(c));
        set
    }
}

impl fmt::Debug for CountrySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_two_upper_case_letters() {
        for (input, ok) in [
            ("CN", true),
            ("ZZ", true),
            ("AA", true),
            ("cn", false),
            ("C", false),
            ("CNN", false),
            ("C1", false),
            ("", false),
            ("É", false),
        ] {
            assert_eq!(Cc::parse(input).is_some(), ok, "{input}");
        }
    }

    #[test]
    fn round_trips_every_code() {
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let text = String::from_utf8(vec![a, b]).unwrap();
                assert_eq!(Cc::parse(&text).unwrap().as_str(), text);
            }
        }
    }

    #[test]
    fn set_algebra() {
        let cc = |s| Cc::parse(s).unwrap();
        let a: CountrySet = [cc("CN"), cc("IL"), cc("ZW")].into_iter().collect();
        let b: CountrySet = [cc("IL")].into_iter().collect();
        let d = a.minus(&b);
        assert!(d.contains(cc("CN")) && d.contains(cc("ZW")) && !d.contains(cc("IL")));
        assert_eq!(a.union(&b).len(), 3);
        let mut e = a;
        e.remove(cc("ZW"));
        assert_eq!(
            e.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            ["CN", "IL"]
        );
    }
}
