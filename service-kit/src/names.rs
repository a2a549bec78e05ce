//! How both services tell whether two names of an end user name the same
//! entity: the one convention their rules share. The classifier matches
//! a name against the entities its rules list (the UAE's Supplement No. 8
//! entities, say); review-svc counts a per-end-user cap under it.
//!
//! Applicants type these names, so the same company arrives as
//! "Example Cloud Co., Ltd.", "EXAMPLE CLOUD CO" or with an invisible
//! zero-width space inside: all must be one entity, or a cap counted per
//! spelling is a cap in name only.

use unicode_normalization::UnicodeNormalization;

/// Words naming a legal form, dropped from the end of a name (after the
/// rest of the normalisation, so "FZ-LLC" is listed as "fzllc"). review-svc
/// stores keys made with them: a change here raises its
/// `END_USER_KEY_VERSION`, which a test pins to this list.
pub const LEGAL_FORMS: &[&str] = &[
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    // "Co.,Ltd." and "Co.,Limited", written without a space as Chinese
    // companies' English names often are: one word once normalised.
    "coltd",
    "colimited",
    "llc",
    "ltd",
    "limited",
    "plc",
    "pjsc",
    "psc",
    "fz",
    "fze",
    "fzco",
    "fzllc",
    "llcfz",
    "gmbh",
    "ag",
    "sa",
    "bv",
    "nv",
    "lp",
    "llp",
    "pte",
    "pty",
    "sarl",
    "spa",
    "kk",
];

/// The form two names of one entity share: compatibility-normalised
/// (NFKC: full-width letters, ligatures and the like become the plain
/// ones), split on white space, each word keeping only its letters and
/// digits (punctuation and invisible formatting characters go), lower-cased;
/// empty words dropped, then trailing [`LEGAL_FORMS`] (repeatedly, but
/// never the last word); joined with single spaces.
///
/// Nothing else is fuzzy: "Core 42" and "Core42" stay apart, and a
/// subsidiary is the same entity only where a rule lists its name.
pub fn entity_key(name: &str) -> String {
    let folded: String = name.nfkc().collect();
    let mut words: Vec<String> = folded
        .split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|word| !word.is_empty())
        .collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| LEGAL_FORMS.contains(&w.as_str()))
    {
        words.pop();
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entity_whatever_the_spelling() {
        for (given, want) in [
            ("  Acme,  Inc. ", "acme"),
            ("Acme LLC Inc", "acme"),
            ("Inc", "inc"),
            ("ÉTOILE Systems", "étoile systems"),
            ("Core42 FZ-LLC", "core42"),
            ("CORE42, L.L.C.", "core42"),
            ("Example Cloud Co., Ltd.", "example cloud"),
            ("Example Cloud Co.,Ltd.", "example cloud"),
            ("EXAMPLE CLOUD CO.,LIMITED", "example cloud"),
            ("Example\u{200B}Cloud Co", "examplecloud"),
            ("Exa\u{200B}mple Cloud\u{00A0}Co", "example cloud"),
            ("\u{FF25}xample \u{FF23}loud", "example cloud"),
            ("Core 42", "core 42"),
            ("", ""),
        ] {
            assert_eq!(entity_key(given), want, "{given:?}");
        }
    }

    #[test]
    fn legal_forms_are_listed_as_the_normalisation_leaves_them() {
        for form in LEGAL_FORMS {
            assert_eq!(entity_key(form), *form);
        }
    }
}
