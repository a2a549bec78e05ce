//! What only this service can make: etags and page tokens, authenticated
//! with a key kept in the database (`service_keys`), so every review-svc
//! process on it, and every restart, accepts the others'.
//!
//! An etag is the application's version and a MAC over its id and
//! version, base64url-encoded: opaque to clients, who carry it, never
//! build it; one made for another application or version, or altered, is
//! not accepted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use service_kit::paging::PageTokens;
use sha2::Sha256;

/// The purpose under which the key is kept in the store.
pub const PURPOSE: &str = "api-tokens";
/// Bytes of the MAC kept in an etag (96 bits).
const ETAG_TAG_BYTES: usize = 12;

#[derive(Clone)]
pub struct Keys {
    etags: Hmac<Sha256>,
    pub pages: PageTokens,
}

impl Keys {
    /// Keys derived from the service's secret: one for etags, one for page
    /// tokens, never the same bytes for both.
    pub fn new(secret: &[u8]) -> Keys {
        let derive = |label: &[u8]| {
            let mut mac = <Hmac<Sha256>>::new_from_slice(secret).expect("any key length");
            mac.update(label);
            mac.finalize().into_bytes()
        };
        Keys {
            etags: Hmac::new_from_slice(&derive(b"etag")).expect("any key length"),
            pages: PageTokens::new(&derive(b"page-token")),
        }
    }

    /// The page token that resumes a list of `query` after the row at
    /// (`at`, `id`), the key the list is sorted by.
    pub fn page_after(&self, query: &str, at: i64, id: &str) -> String {
        self.pages.encode(query, &format!("{at}|{id}"))
    }

    /// The (`at`, id) that a token of [`Keys::page_after`] for `query`
    /// resumes after; `None` when it is not such a token.
    pub fn page_position(&self, query: &str, token: &str) -> Option<(i64, String)> {
        let position = self.pages.decode(token, query).ok()?;
        let (at, id) = position.split_once('|')?;
        Some((at.parse().ok()?, id.to_owned()))
    }

    /// A fresh random secret, hex, for the store to keep if it has none.
    pub fn fresh_secret_hex() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }

    /// The etag of application `id` at `version`.
    pub fn etag(&self, id: &str, version: i64) -> String {
        let mut bytes = version.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.tag(id, version));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The version an etag of application `id` names; `None` when it is
    /// not one this service made for that application.
    pub fn version(&self, id: &str, etag: &str) -> Option<i64> {
        let bytes = URL_SAFE_NO_PAD.decode(etag.trim_matches('"')).ok()?;
        if bytes.len() != 8 + ETAG_TAG_BYTES {
            return None;
        }
        let (version, tag) = bytes.split_at(8);
        let version = i64::from_be_bytes(version.try_into().ok()?);
        let mut mac = self.etags.clone();
        mac.update(&Self::message(id, version));
        mac.verify_truncated_left(tag).ok()?;
        (version > 0).then_some(version)
    }

    fn message(id: &str, version: i64) -> Vec<u8> {
        let mut message = id.as_bytes().to_vec();
        message.push(0);
        message.extend_from_slice(&version.to_be_bytes());
        message
    }

    fn tag(&self, id: &str, version: i64) -> [u8; ETAG_TAG_BYTES] {
        let mut mac = self.etags.clone();
        mac.update(&Self::message(id, version));
        let full = mac.finalize().into_bytes();
        let mut tag = [0; ETAG_TAG_BYTES];
        tag.copy_from_slice(&full[..ETAG_TAG_BYTES]);
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_for_their_application_only() {
        let keys = Keys::new(b"secret");
        let etag = keys.etag("app-1", 7);
        assert_eq!(keys.version("app-1", &etag), Some(7));
        assert_eq!(keys.version("app-1", &format!("\"{etag}\"")), Some(7));
        assert_eq!(keys.version("app-2", &etag), None, "another application's");
        assert_eq!(
            Keys::new(b"other").version("app-1", &etag),
            None,
            "another key's"
        );
        for bad in ["", "v7", "7", "latest", "AAAAAAAAAAc", &etag[1..]] {
            assert_eq!(keys.version("app-1", bad), None, "{bad}");
        }
        // The version inside is readable, but changing it breaks the MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&etag).unwrap();
        bytes[7] = 8;
        assert_eq!(keys.version("app-1", &URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_ne!(keys.etag("app-1", 7), keys.etag("app-1", 8));
    }
}
