//! Opaque page tokens. A token names the query it belongs to (a fingerprint
//! of its filters) and carries the cursor; a token from another query, or one
//! whose bytes were changed, is refused rather than silently misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

const VERSION: &str = "p1";

/// Why a page token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    #[error("page token is malformed or was altered")]
    Malformed,
    #[error("page token belongs to another query; send the same filters as the request that returned it")]
    OtherQuery,
}

/// Encodes `cursor` for the query identified by `query_fingerprint`.
pub fn encode(query_fingerprint: &str, cursor: &str) -> String {
    let body = format!("{VERSION}\n{query_fingerprint}\n{cursor}");
    let check = checksum(&body);
    URL_SAFE_NO_PAD.encode(format!("{body}\n{check}"))
}

/// Returns the cursor if the token is intact and belongs to this query.
pub fn decode(token: &str, query_fingerprint: &str) -> Result<String, PageTokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| PageTokenError::Malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| PageTokenError::Malformed)?;
    let (body, check) = text.rsplit_once('\n').ok_or(PageTokenError::Malformed)?;
    if checksum(body) != check {
        return Err(PageTokenError::Malformed);
    }
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

/// A short digest of a query's filters, for `encode`/`decode`.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex_prefix(&hasher.finalize())
}

fn checksum(body: &str) -> String {
    hex_prefix(&Sha256::digest(body.as_bytes()))
}

fn hex_prefix(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_queries_and_alterations() {
        let query = fingerprint(&["state=AGENCY_REVIEW", "destination=CN"]);
        let token = encode(&query, "1700000000000|abc");
        assert_eq!(decode(&token, &query).as_deref(), Ok("1700000000000|abc"));

        let other = fingerprint(&["state=DECIDED", "destination=CN"]);
        assert_eq!(decode(&token, &other), Err(PageTokenError::OtherQuery));

        let mut altered = token.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(decode(&altered, &query), Err(PageTokenError::Malformed));
        assert_eq!(
            decode("not base64!", &query),
            Err(PageTokenError::Malformed)
        );
        assert_eq!(decode("", &query), Err(PageTokenError::Malformed));
    }

    #[test]
    fn fingerprint_is_unambiguous() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}
