//! Opaque page tokens. A token names the query it belongs to (a fingerprint
//! of its filters), carries the cursor, and is authenticated with a keyed
//! MAC (HMAC-SHA-256): a token from another query is refused, and so is one
//! whose bytes were changed, even when whoever changed them recomputed any
//! checksum, because only the service holds the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION: &str = "p2";
/// Bytes of the MAC kept in a token (128 bits).
const TAG_BYTES: usize = 16;

/// Why a page token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    #[error("page token is malformed or was altered")]
    Malformed,
    #[error("page token belongs to another query; send the same filters as the request that returned it")]
    OtherQuery,
}

/// Makes and reads the page tokens of one service, under its key.
#[derive(Clone)]
pub struct PageTokens {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens { key: <hidden> }")
    }
}

impl PageTokens {
    /// Tokens under `key` (any length; 32 random bytes are plenty).
    pub fn new(key: &[u8]) -> PageTokens {
        PageTokens {
            mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    /// Encodes `cursor` for the query identified by `query_fingerprint`.
    pub fn encode(&self, query_fingerprint: &str, cursor: &str) -> String {
        let body = format!("{VERSION}\n{query_fingerprint}\n{cursor}");
        let mut token = body.into_bytes();
        let tag = self.tag(&token);
        token.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Returns the cursor if the token is intact, was made with this key
    /// and belongs to this query.
    pub fn decode(&self, token: &str, query_fingerprint: &str) -> Result<String, PageTokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| PageTokenError::Malformed)?;
        let split = bytes
            .len()
            .checked_sub(TAG_BYTES)
            .ok_or(PageTokenError::Malformed)?;
        let (body, tag) = bytes.split_at(split);
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_truncated_left(tag)
            .map_err(|_| PageTokenError::Malformed)?;
        let body = std::str::from_utf8(body).map_err(|_| PageTokenError::Malformed)?;
        let mut parts = body.splitn(3, '\n');
        let (Some(VERSION), Some(fingerprint), Some(cursor)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(PageTokenError::Malformed);
        };
        if fingerprint != query_fingerprint {
            return Err(PageTokenError::OtherQuery);
        }
        Ok(cursor.to_owned())
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_BYTES] {
        let mut mac = self.mac.clone();
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }
}

/// A short digest of a query's filters, for `encode`/`decode`.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_queries_and_alterations() {
        let tokens = PageTokens::new(b"a key of the service");
        let query = fingerprint(&["state=AGENCY_REVIEW", "destination=CN"]);
        let token = tokens.encode(&query, "1700000000000|abc");
        assert_eq!(
            tokens.decode(&token, &query).as_deref(),
            Ok("1700000000000|abc")
        );

        let other = fingerprint(&["state=DECIDED", "destination=CN"]);
        assert_eq!(
            tokens.decode(&token, &other),
            Err(PageTokenError::OtherQuery)
        );

        let mut altered = token.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            tokens.decode(&altered, &query),
            Err(PageTokenError::Malformed)
        );
        for bad in ["not base64!", "", "cDI"] {
            assert_eq!(tokens.decode(bad, &query), Err(PageTokenError::Malformed));
        }
    }

    #[test]
    fn a_token_rebuilt_without_the_key_is_refused() {
        let tokens = PageTokens::new(b"the service's key");
        let query = fingerprint(&["events"]);
        // Whoever knows the format but not the key: a cursor of their
        // choosing, tagged with a key of their own (or a plain checksum).
        let forged = PageTokens::new(b"a guess").encode(&query, "0");
        assert_eq!(
            tokens.decode(&forged, &query),
            Err(PageTokenError::Malformed)
        );
        let body = format!("{VERSION}\n{query}\n0");
        let checksum = Sha256::digest(body.as_bytes());
        let mut bytes = body.into_bytes();
        bytes.extend_from_slice(&checksum[..TAG_BYTES]);
        let rechecksummed = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            tokens.decode(&rechecksummed, &query),
            Err(PageTokenError::Malformed)
        );
    }

    #[test]
    fn fingerprint_is_unambiguous() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}
