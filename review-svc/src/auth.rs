//! Who is calling: a bearer token maps to a principal (id, role, agency) in
//! the tokens file. Only SHA-256 digests of tokens are stored, compared in
//! constant time; tokens are never logged.
//!
//! The tokens file (TOML):
//! ```toml
//! [[principal]]
//! id = "state-reviewer-1"
//! role = "AGENCY_REVIEWER"        # see workflow::Role
//! agency = "STATE"                # reviewers, ACEP and EARB members
//! token_sha256 = "<hex digest of the token>"
//! expires_at = "2027-01-01T00:00:00Z"   # optional
//! revoked = false                       # optional
//! senate_confirmed = false              # optional: may escalate to the ACEP (750.4(f)(2))
//! agency_head = false                   # optional: may appeal to the EARB, the President (750.4(f)(2)-(3))
//! ```
//!
//! The file is read at start and again on SIGHUP, so a revoked token stops
//! working without a restart (a file that no longer parses is refused and
//! the principals already loaded stay in force). Requests are authenticated
//! by [`AuthInterceptor`] before their body is decoded; the handlers read the
//! principal from the request's extensions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::workflow::{Actor, Agency, Role};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    principal: Vec<PrincipalEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalEntry {
    id: String,
    role: Role,
    agency: Option<Agency>,
    token_sha256: String,
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    revoked: bool,
    /// May sign an escalation to the ACEP (750.4(f)(2)).
    #[serde(default)]
    senate_confirmed: bool,
    /// May appeal to the EARB and the President (750.4(f)(2)-(3)).
    #[serde(default)]
    agency_head: bool,
}

struct Credential {
    actor: Actor,
    digest: [u8; 32],
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

/// Why a caller was not authenticated. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing authorization: send `authorization: Bearer <token>`")]
    Missing,
    #[error("malformed authorization header: expected `Bearer <token>`")]
    Malformed,
    #[error("more than one authorization header: send exactly one")]
    Ambiguous,
    #[error("unknown token")]
    Unknown,
    #[error("token of principal {0} has expired")]
    Expired(String),
    #[error("token of principal {0} was revoked")]
    Revoked(String),
}

impl AuthError {
    /// Stable reason for `ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "MISSING_TOKEN",
            AuthError::Malformed => "MALFORMED_TOKEN",
            AuthError::Ambiguous => "AMBIGUOUS_TOKEN",
            AuthError::Unknown => "UNKNOWN_TOKEN",
            AuthError::Expired(_) => "TOKEN_EXPIRED",
            AuthError::Revoked(_) => "TOKEN_REVOKED",
        }
    }
}

/// The principals the server knows. Clones share them, so a reload through
/// one clone is seen by all.
#[derive(Clone)]
pub struct Authenticator {
    credentials: Arc<RwLock<Vec<Credential>>>,
    /// The tokens file, when the principals came from one (not in --dev).
    path: Option<PathBuf>,
}

/// Development principals: (token, id, role, agency, standing). Fixed so
/// that the README's examples work; only ever loaded with `--dev`. ACEP
/// members are Assistant Secretaries (Senate-confirmed) and EARB members
/// the heads of their departments, as 750.4(f) has them; one acting ACEP
/// member and one deputy on the EARB lack that standing, to show the
/// refusal.
const DEVELOPMENT: &[(&str, &str, Role, Option<Agency>, DevStanding)] = &[
    ("dev-applicant", "exporter-1", Role::Applicant, None, PLAIN),
    (
        "dev-applicant-2",
        "exporter-2",
        Role::Applicant,
        None,
        PLAIN,
    ),
    (
        "dev-commerce",
        "commerce-reviewer",
        Role::AgencyReviewer,
        Some(Agency::Commerce),
        PLAIN,
    ),
    (
        "dev-state",
        "state-reviewer",
        Role::AgencyReviewer,
        Some(Agency::State),
        PLAIN,
    ),
    (
        "dev-defense",
        "defense-reviewer",
        Role::AgencyReviewer,
        Some(Agency::Defense),
        PLAIN,
    ),
    (
        "dev-energy",
        "energy-reviewer",
        Role::AgencyReviewer,
        Some(Agency::Energy),
        PLAIN,
    ),
    (
        "dev-officer",
        "licensing-officer",
        Role::LicensingOfficer,
        None,
        PLAIN,
    ),
    (
        "dev-oc-chair",
        "oc-chair",
        Role::OperatingCommitteeChair,
        None,
        PLAIN,
    ),
    (
        "dev-acep-commerce",
        "acep-commerce",
        Role::AcepMember,
        Some(Agency::Commerce),
        SENATE_CONFIRMED,
    ),
    (
        "dev-acep-state",
        "acep-state",
        Role::AcepMember,
        Some(Agency::State),
        SENATE_CONFIRMED,
    ),
    (
        "dev-acep-defense",
        "acep-defense",
        Role::AcepMember,
        Some(Agency::Defense),
        SENATE_CONFIRMED,
    ),
    (
        "dev-acep-energy",
        "acep-energy",
        Role::AcepMember,
        Some(Agency::Energy),
        SENATE_CONFIRMED,
    ),
    (
        "dev-acep-state-acting",
        "acep-state-acting",
        Role::AcepMember,
        Some(Agency::State),
        PLAIN,
    ),
    (
        "dev-earb-commerce",
        "earb-commerce",
        Role::EarbMember,
        Some(Agency::Commerce),
        AGENCY_HEAD,
    ),
    (
        "dev-earb-state",
        "earb-state",
        Role::EarbMember,
        Some(Agency::State),
        AGENCY_HEAD,
    ),
    (
        "dev-earb-defense",
        "earb-defense",
        Role::EarbMember,
        Some(Agency::Defense),
        AGENCY_HEAD,
    ),
    (
        "dev-earb-energy",
        "earb-energy",
        Role::EarbMember,
        Some(Agency::Energy),
        AGENCY_HEAD,
    ),
    (
        "dev-earb-state-deputy",
        "earb-state-deputy",
        Role::EarbMember,
        Some(Agency::State),
        SENATE_CONFIRMED,
    ),
    ("dev-president", "president", Role::President, None, PLAIN),
    ("dev-auditor", "auditor", Role::Auditor, None, PLAIN),
];

/// (senate_confirmed, agency_head) of a development principal.
type DevStanding = (bool, bool);
const PLAIN: DevStanding = (false, false);
const SENATE_CONFIRMED: DevStanding = (true, false);
const AGENCY_HEAD: DevStanding = (true, true);

impl Authenticator {
    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let credentials = read_file(path)?;
        Ok(Self {
            credentials: Arc::new(RwLock::new(credentials)),
            path: Some(path.to_owned()),
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        Ok(Self::with(parse(text)?))
    }

    fn with(credentials: Vec<Credential>) -> Self {
        Self {
            credentials: Arc::new(RwLock::new(credentials)),
            path: None,
        }
    }

    /// Reads the tokens file again and replaces the principals with its
    /// content; on any error the principals in force stay. Returns how many
    /// principals are now known. Without a file (development mode) there is
    /// nothing to reload.
    pub fn reload(&self) -> Result<usize, String> {
        let Some(path) = &self.path else {
            return Err("no tokens file to reload (development mode)".to_owned());
        };
        let credentials = read_file(path)?;
        let count = credentials.len();
        *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = credentials;
        Ok(count)
    }

    /// Reloads the tokens file on every SIGHUP until the process ends.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup())?;
        let this = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match this.reload() {
                    Ok(principals) => tracing::info!(principals, "tokens file reloaded"),
                    Err(error) => {
                        tracing::error!(%error, "tokens file not reloaded: the previous principals stay")
                    }
                }
            }
        }))
    }
}

fn read_file(path: &Path) -> Result<Vec<Credential>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read tokens file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("tokens file {}: {e}", path.display()))
}

fn parse(text: &str) -> Result<Vec<Credential>, String> {
    let file: TokensFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut credentials = Vec::with_capacity(file.principal.len());
    for entry in file.principal {
        if entry.role == Role::System {
            return Err(format!(
                "principal {}: role SYSTEM is reserved for the service itself",
                entry.id
            ));
        }
        let needs_agency = matches!(
            entry.role,
            Role::AgencyReviewer | Role::AcepMember | Role::EarbMember
        );
        if needs_agency != entry.agency.is_some() {
            return Err(format!(
                "principal {}: role {} {}",
                entry.id,
                entry.role.as_str(),
                if needs_agency {
                    "needs an agency"
                } else {
                    "takes no agency"
                }
            ));
        }
        let digest = parse_digest(&entry.token_sha256)
            .ok_or_else(|| format!("principal {}: token_sha256 must be 64 hex digits", entry.id))?;
        credentials.push(Credential {
            actor: Actor::new(entry.id, entry.role, entry.agency)
                .with_attributes(entry.senate_confirmed, entry.agency_head),
            digest,
            expires_at: entry.expires_at,
            revoked: entry.revoked,
        });
    }
    check_one_principal_each(&credentials)?;
    Ok(credentials)
}

/// A token names one principal, and a principal is one actor. A token
/// listed twice would authenticate as whichever entry came last; an id
/// listed with two roles (or agencies, or attributes) would put one name
/// on both sides of a review in the record, an applicant deciding its own
/// application. The same principal under several tokens (a rotation) is
/// fine.
fn check_one_principal_each(credentials: &[Credential]) -> Result<(), String> {
    let mut by_token: HashMap<[u8; 32], &str> = HashMap::new();
    let mut by_id: HashMap<&str, &Actor> = HashMap::new();
    for Credential { actor, digest, .. } in credentials {
        if let Some(other) = by_token.insert(*digest, &actor.id) {
            return Err(format!(
                "principals {other} and {} have the same token_sha256: a token names one principal",
                actor.id
            ));
        }
        if let Some(other) = by_id.insert(&actor.id, actor) {
            if other != actor {
                return Err(format!(
                    "principal {} is listed twice as different actors (role, agency, \
                     senate_confirmed, agency_head): one id is one principal",
                    actor.id
                ));
            }
        }
    }
    Ok(())
}

impl Authenticator {
    /// The fixed development principals, with their tokens for printing.
    pub fn development() -> (Self, Vec<(&'static str, Actor)>) {
        let listed: Vec<(&'static str, Actor)> = DEVELOPMENT
            .iter()
            .map(|(token, id, role, agency, (confirmed, head))| {
                let actor = Actor::new(*id, *role, *agency).with_attributes(*confirmed, *head);
                (*token, actor)
            })
            .collect();
        let credentials = listed
            .iter()
            .map(|(token, actor)| Credential {
                actor: actor.clone(),
                digest: digest(token),
                expires_at: None,
                revoked: false,
            })
            .collect();
        (Self::with(credentials), listed)
    }

    /// Authenticates a request's metadata at `now`: exactly one
    /// `authorization` header, `Bearer <token>` (the scheme in any case).
    pub fn authenticate_metadata(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        now: DateTime<Utc>,
    ) -> Result<Actor, AuthError> {
        let mut values = metadata.get_all("authorization").iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(AuthError::Ambiguous);
        }
        let header = first.map(|value| value.to_str().unwrap_or("invalid"));
        self.authenticate(header, now)
    }

    /// Authenticates the value of the `authorization` header at `now`.
    pub fn authenticate(
        &self,
        header: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Actor, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        // RFC 7235: the scheme is case-insensitive.
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::Malformed)?;
        let presented = digest(token);
        let credentials = self.credentials.read().unwrap_or_else(|e| e.into_inner());
        // Compare against every credential without stopping early, so the
        // time taken does not depend on which one (if any) matched.
        let mut found: Option<&Credential> = None;
        for credential in credentials.iter() {
            if constant_time_eq(&credential.digest, &presented) {
                found = Some(credential);
            }
        }
        let credential = found.ok_or(AuthError::Unknown)?;
        if credential.revoked {
            return Err(AuthError::Revoked(credential.actor.id.clone()));
        }
        if credential.expires_at.is_some_and(|expires| expires <= now) {
            return Err(AuthError::Expired(credential.actor.id.clone()));
        }
        Ok(credential.actor.clone())
    }
}

/// Authenticates every request before its body is decoded (tonic's
/// interceptor sees the headers alone), so a caller without valid
/// credentials learns nothing from what it sent (garbage in the body
/// included), and puts the principal ([`Actor`]) in the request's extensions
/// for the handler.
#[derive(Clone)]
pub struct Authenticate {
    authenticator: Authenticator,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Authenticate {
    pub fn new(authenticator: Authenticator, clock: Arc<dyn crate::clock::Clock>) -> Self {
        Self {
            authenticator,
            clock,
        }
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let actor = self
            .authenticator
            .authenticate_metadata(request.metadata(), self.clock.now())
            .map_err(|error| crate::grpc::errors::unauthenticated(&error))?;
        request.extensions_mut().insert(actor);
        Ok(request)
    }
}

/// Hex SHA-256 of a token, as the tokens file stores it.
pub fn token_sha256(token: &str) -> String {
    hex::encode(digest(token))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> String {
        format!(
            r#"
[[principal]]
id = "alice"
role = "APPLICANT"
token_sha256 = "{}"

[[principal]]
id = "bob"
role = "AGENCY_REVIEWER"
agency = "STATE"
token_sha256 = "{}"
expires_at = "2026-01-01T00:00:00Z"

[[principal]]
id = "carol"
role = "PRESIDENT"
token_sha256 = "{}"
revoked = true
"#,
            token_sha256("alice-secret"),
            token_sha256("bob-secret"),
            token_sha256("carol-secret")
        )
    }

    #[test]
    fn maps_tokens_to_principals_and_refuses_the_rest() {
        let auth = Authenticator::from_toml(&file()).unwrap();
        let now: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        let later: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let alice = auth.authenticate(Some("Bearer alice-secret"), now).unwrap();
        assert_eq!((alice.id.as_str(), alice.role), ("alice", Role::Applicant));
        let bob = auth.authenticate(Some("Bearer bob-secret"), now).unwrap();
        assert_eq!(bob.agency, Some(Agency::State));
        let cases = [
            (None, now, AuthError::Missing),
            (Some("alice-secret"), now, AuthError::Malformed),
            (Some("Bearer "), now, AuthError::Malformed),
            (Some("Bearer nobody"), now, AuthError::Unknown),
            (
                Some("Bearer bob-secret"),
                later,
                AuthError::Expired("bob".into()),
            ),
            (
                Some("Bearer carol-secret"),
                now,
                AuthError::Revoked("carol".into()),
            ),
        ];
        for (header, at, expected) in cases {
            assert_eq!(auth.authenticate(header, at), Err(expected), "{header:?}");
        }
    }

    #[test]
    fn refuses_inconsistent_files() {
        let cases = [
            ("role = \"SYSTEM\"", "reserved"),
            ("role = \"AGENCY_REVIEWER\"", "needs an agency"),
            (
                "role = \"PRESIDENT\"\nagency = \"STATE\"",
                "takes no agency",
            ),
        ];
        for (role, expected) in cases {
            let text = format!(
                "[[principal]]\nid = \"x\"\n{role}\ntoken_sha256 = \"{}\"\n",
                token_sha256("t")
            );
            let error = Authenticator::from_toml(&text).err().unwrap();
            assert!(error.contains(expected), "{error}");
        }
        let bad_hash = "[[principal]]\nid = \"x\"\nrole = \"AUDITOR\"\ntoken_sha256 = \"abc\"\n";
        assert!(Authenticator::from_toml(bad_hash).is_err());
        let unknown_key = "[[principal]]\nid = \"x\"\nrole = \"AUDITOR\"\ntoken = \"plain\"\n";
        assert!(Authenticator::from_toml(unknown_key).is_err());
    }

    #[test]
    fn a_token_names_one_principal_and_an_id_one_actor() {
        let entry = |id: &str, role: &str, token: &str| {
            format!(
                "[[principal]]\nid = \"{id}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n",
                token_sha256(token)
            )
        };
        let shared = entry("alice", "APPLICANT", "t") + &entry("olga", "LICENSING_OFFICER", "t");
        let error = Authenticator::from_toml(&shared).err().unwrap();
        assert!(error.contains("same token_sha256"), "{error}");
        let two_roles =
            entry("alice", "APPLICANT", "t1") + &entry("alice", "LICENSING_OFFICER", "t2");
        let error = Authenticator::from_toml(&two_roles).err().unwrap();
        assert!(
            error.contains("listed twice as different actors"),
            "{error}"
        );
        // A rotation: one principal, an old token and a new one.
        let rotation = entry("alice", "APPLICANT", "old") + &entry("alice", "APPLICANT", "new");
        let auth = Authenticator::from_toml(&rotation).unwrap();
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        for token in ["Bearer old", "Bearer new"] {
            assert_eq!(auth.authenticate(Some(token), now).unwrap().id, "alice");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let auth = Authenticator::from_toml(&file()).unwrap();
        let now: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        for header in [
            "bearer alice-secret",
            "BEARER alice-secret",
            "BeArEr alice-secret",
        ] {
            let alice = auth.authenticate(Some(header), now).unwrap();
            assert_eq!(alice.id, "alice", "{header}");
        }
        for header in [
            "Bearer",
            "Bearer  ",
            "Basic alice-secret",
            "Bearer-alice-secret",
        ] {
            assert_eq!(
                auth.authenticate(Some(header), now),
                Err(AuthError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn two_authorization_headers_are_refused_whatever_their_order() {
        let (auth, _) = Authenticator::development();
        for pair in [
            ["Bearer dev-applicant", "Bearer dev-auditor"],
            ["Bearer dev-auditor", "Bearer dev-applicant"],
            ["Bearer dev-auditor", "Bearer dev-auditor"],
        ] {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for value in pair {
                metadata.append("authorization", value.parse().unwrap());
            }
            assert_eq!(
                auth.authenticate_metadata(&metadata, Utc::now()),
                Err(AuthError::Ambiguous),
                "{pair:?}"
            );
        }
    }

    #[test]
    fn reload_replaces_the_principals_and_keeps_them_when_the_file_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, file()).unwrap();
        let auth = Authenticator::load(&path).unwrap();
        let shared = auth.clone();
        let now: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        assert!(auth.authenticate(Some("Bearer alice-secret"), now).is_ok());
        std::fs::write(
            &path,
            file().replacen(
                "role = \"APPLICANT\"",
                "role = \"APPLICANT\"\nrevoked = true",
                1,
            ),
        )
        .unwrap();
        assert_eq!(shared.reload(), Ok(3));
        assert_eq!(
            auth.authenticate(Some("Bearer alice-secret"), now),
            Err(AuthError::Revoked("alice".into()))
        );
        std::fs::write(&path, "not toml [").unwrap();
        assert!(shared.reload().is_err());
        assert!(auth.authenticate(Some("Bearer bob-secret"), now).is_ok());
        let (development, _) = Authenticator::development();
        assert!(development.reload().is_err());
    }

    #[test]
    fn development_tokens_authenticate() {
        let (auth, listed) = Authenticator::development();
        let now = Utc::now();
        for (token, actor) in listed {
            assert_eq!(
                auth.authenticate(Some(&format!("Bearer {token}")), now)
                    .unwrap(),
                actor
            );
        }
    }
}
