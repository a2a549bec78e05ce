//! Signed audit checkpoints: the head of the history kept where the
//! database cannot rewrite it.
//!
//! Every application's events form a hash chain whose head the
//! application row records, and `VerifyAuditTrail` recomputes the chains.
//! That detects an edit made by hand, but not a consistent rewrite: whoever
//! can write to the database can change an event, recompute the hashes of
//! the rest of its chain and the row's head, and the chains verify again.
//!
//! A checkpoint pins the whole history up to a point of the global order.
//! It is (`sequence`, `digest`, `made_at`) signed with the service's
//! Ed25519 key, where `digest` is a running hash over every event in
//! `sequence` order up to `sequence` ([`AuditDigest`]: each step hashes the
//! previous digest, the event's sequence and its stored hash). The event
//! hashes cover each event's content and its chain, so changing, removing,
//! inserting or reordering any event up to `sequence`, however consistently
//! the chains and row heads are re-hashed, changes the digest from that
//! event on; and the digest cannot be re-signed without the key, which is
//! not in the database. Verifying a checkpoint recomputes the digest from
//! the stored events and compares.
//!
//! Why a running hash rather than a digest over every application's chain
//! head: it extends. The service keeps its latest checkpoint (beside the
//! key, outside the database) and makes the next one by folding in only the
//! events after it, having checked that the stored history still continues
//! it (the last event it folded is still there, with the same hash). So a
//! checkpoint never costs a walk of the whole history, and, more to the
//! point, the service never signs over a rewrite of history it has already
//! checkpointed: a new checkpoint extends the last signed digest, not what
//! the database says now. A digest of the current heads would be
//! recomputed from the database each time and would bless a rewrite.
//!
//! The checkpoint covers the history up to the store's *audit horizon*:
//! the greatest sequence below which no event can still commit (see
//! [`Store::audit_horizon`]), so a checkpoint never omits an event that
//! commits after it with a smaller sequence.
//!
//! The key is a PKCS#8 PEM file (as `openssl genpkey -algorithm ed25519`
//! writes), created with mode 0600 on first start when absent. Without a
//! key file (tests), the key lives in memory for the life of the process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::ed25519::pkcs8::KeypairBytes;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::store::{AuditDigest, Store, StoreError};

/// Domain tag of the signed bytes.
const SIGNED_DOMAIN: &[u8] = b"review-svc/audit-checkpoint/v1";

/// A signed checkpoint of the history, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The history covered: every event with a sequence up to this one.
    pub sequence: i64,
    /// Hex SHA-256 running hash of the events up to `sequence`.
    pub digest: String,
    /// When it was made, Unix milliseconds.
    pub made_at: i64,
    /// Ed25519 signature (64 bytes) of [`Checkpoint::signed_bytes`].
    pub signature: Vec<u8>,
    /// The Ed25519 public key (32 bytes) that verifies the signature.
    pub public_key: Vec<u8>,
}

impl Checkpoint {
    /// What is signed: a domain tag, then the sequence, the digest and the
    /// time, each length-prefixed (8-byte big-endian length; integers as
    /// 8-byte big-endian).
    pub fn signed_bytes(sequence: i64, digest: &str, made_at: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        for field in [
            SIGNED_DOMAIN,
            &sequence.to_be_bytes(),
            digest.as_bytes(),
            &made_at.to_be_bytes(),
        ] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }
}

/// What checking a checkpoint against the stored history found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointCheck {
    pub sequence: i64,
    /// Whether the stored history up to `sequence` still hashes to the
    /// checkpoint's digest.
    pub matches: bool,
    /// The digest of the stored history up to `sequence`.
    pub stored_digest: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The checkpoint was not signed by this service's key, or is malformed.
    #[error("{0}")]
    NotOurs(String),
    /// The stored history no longer continues the last checkpoint made:
    /// rewritten, truncated, or another database.
    #[error(
        "the stored history does not continue the checkpoint at sequence {sequence}: {detail}"
    )]
    Diverged { sequence: i64, detail: String },
    #[error("audit key {path}: {detail}")]
    Key { path: PathBuf, detail: String },
}

/// The service's latest checkpoint, as kept beside the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    sequence: i64,
    digest: String,
    made_at: i64,
    /// Hex.
    signature: String,
    /// The last event folded into `digest`, to check that the stored
    /// history continues it before extending it.
    last_sequence: i64,
    last_hash: String,
}

/// Makes, keeps and checks the service's signed checkpoints.
pub struct Auditor {
    store: Arc<dyn Store>,
    key: SigningKey,
    /// Where the latest checkpoint is kept (None: in memory only).
    kept_path: Option<PathBuf>,
    latest: Mutex<Option<Kept>>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("public_key", &hex::encode(self.public_key()))
            .field("kept_path", &self.kept_path)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Loads the key from `key_file` (creating it, mode 0600, when absent)
    /// and the latest checkpoint kept beside it; without a file, a key for
    /// this process only.
    pub fn open(store: Arc<dyn Store>, key_file: Option<&Path>) -> Result<Self, AuditError> {
        let Some(path) = key_file else {
            return Ok(Self {
                store,
                key: SigningKey::from_bytes(&rand::random()),
                kept_path: None,
                latest: Mutex::new(None),
            });
        };
        let key = load_or_create_key(path)?;
        let kept_path = kept_path(path);
        let key_error = |detail: String| AuditError::Key {
            path: kept_path.clone(),
            detail,
        };
        let latest = match std::fs::read(&kept_path) {
            Ok(bytes) => {
                let kept: Kept = serde_json::from_slice(&bytes)
                    .map_err(|e| key_error(format!("unreadable checkpoint: {e}")))?;
                let signature = hex::decode(&kept.signature)
                    .ok()
                    .and_then(|bytes| Signature::from_slice(&bytes).ok())
                    .ok_or_else(|| key_error("malformed signature".into()))?;
                key.verifying_key()
                    .verify(
                        &Checkpoint::signed_bytes(kept.sequence, &kept.digest, kept.made_at),
                        &signature,
                    )
                    .map_err(|_| {
                        key_error(format!(
                            "the kept checkpoint is not signed by the key in {}",
                            path.display()
                        ))
                    })?;
                Some(kept)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(key_error(e.to_string())),
        };
        Ok(Self {
            store,
            key,
            kept_path: Some(kept_path),
            latest: Mutex::new(latest),
        })
    }

    /// The public key (32 bytes) that verifies this service's checkpoints.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The latest checkpoint; a new one when `fresh` or when none was made
    /// yet. `now` is Unix milliseconds.
    pub async fn checkpoint(&self, fresh: bool, now: i64) -> Result<Checkpoint, AuditError> {
        let mut latest = self.latest.lock().await;
        if let (false, Some(kept)) = (fresh, latest.as_ref()) {
            return self.served(kept);
        }
        let from = match latest.as_ref() {
            Some(kept) => AuditDigest {
                sequence: kept.sequence,
                digest: kept.digest.clone(),
                last_sequence: kept.last_sequence,
                last_hash: kept.last_hash.clone(),
            },
            None => AuditDigest::default(),
        };
        self.check_continues(&from).await?;
        let horizon = self.store.audit_horizon().await?;
        if horizon < from.sequence {
            return Err(AuditError::Diverged {
                sequence: from.sequence,
                detail: format!("the stored history ends at sequence {horizon}"),
            });
        }
        let digest = self.store.audit_fold(from, horizon).await?;
        let signature = self.key.sign(&Checkpoint::signed_bytes(
            digest.sequence,
            &digest.digest,
            now,
        ));
        let kept = Kept {
            sequence: digest.sequence,
            digest: digest.digest,
            made_at: now,
            signature: hex::encode(signature.to_bytes()),
            last_sequence: digest.last_sequence,
            last_hash: digest.last_hash,
        };
        if let Some(path) = &self.kept_path {
            write_kept(path, &kept).map_err(|e| AuditError::Key {
                path: path.clone(),
                detail: format!("cannot keep the checkpoint: {e}"),
            })?;
        }
        let served = self.served(&kept);
        *latest = Some(kept);
        served
    }

    /// Checks `checkpoint`'s signature with this service's key, then
    /// whether the stored history up to its sequence still hashes to its
    /// digest.
    pub async fn check(&self, checkpoint: &Checkpoint) -> Result<CheckpointCheck, AuditError> {
        if checkpoint.public_key != self.public_key() {
            return Err(AuditError::NotOurs(
                "the checkpoint names a public key that is not this service's".into(),
            ));
        }
        let signature = Signature::from_slice(&checkpoint.signature)
            .map_err(|_| AuditError::NotOurs("the signature is not 64 bytes".into()))?;
        self.key
            .verifying_key()
            .verify_strict(
                &Checkpoint::signed_bytes(
                    checkpoint.sequence,
                    &checkpoint.digest,
                    checkpoint.made_at,
                ),
                &signature,
            )
            .map_err(|_| {
                AuditError::NotOurs("the signature does not verify with this service's key".into())
            })?;
        let stored = self
            .store
            .audit_fold(AuditDigest::default(), checkpoint.sequence)
            .await?;
        Ok(CheckpointCheck {
            sequence: checkpoint.sequence,
            matches: stored.digest == checkpoint.digest,
            stored_digest: stored.digest,
        })
    }

    fn served(&self, kept: &Kept) -> Result<Checkpoint, AuditError> {
        Ok(Checkpoint {
            sequence: kept.sequence,
            digest: kept.digest.clone(),
            made_at: kept.made_at,
            signature: hex::decode(&kept.signature)
                .map_err(|e| AuditError::NotOurs(format!("kept signature: {e}")))?,
            public_key: self.public_key().to_vec(),
        })
    }

    /// Whether the last event folded into `from` is still stored as it was.
    async fn check_continues(&self, from: &AuditDigest) -> Result<(), AuditError> {
        if from.last_sequence == 0 {
            return Ok(());
        }
        let found = self.store.events(None, from.last_sequence - 1, 1).await?;
        match found.first() {
            Some(event) if event.sequence == from.last_sequence && event.hash == from.last_hash => {
                Ok(())
            }
            Some(event) if event.sequence == from.last_sequence => Err(AuditError::Diverged {
                sequence: from.sequence,
                detail: format!("event {} has another hash", from.last_sequence),
            }),
            _ => Err(AuditError::Diverged {
                sequence: from.sequence,
                detail: format!("event {} is missing", from.last_sequence),
            }),
        }
    }
}

/// `audit-key.pem` keeps its latest checkpoint in `audit-key.pem.checkpoint`.
fn kept_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

fn load_or_create_key(path: &Path) -> Result<SigningKey, AuditError> {
    let error = |detail: String| AuditError::Key {
        path: path.to_owned(),
        detail,
    };
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            if let Some(warning) = exposure(path) {
                tracing::warn!(path = %path.display(), "{warning}");
            }
            return SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| error(format!("not an Ed25519 PKCS#8 PEM key: {e}")));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e.to_string())),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| error(e.to_string()))?;
    }
    let key = SigningKey::from_bytes(&rand::random());
    // PKCS#8 v1 (the private key alone), as OpenSSL writes and reads it.
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|e| error(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| error(e.to_string()))?;
            tracing::info!(path = %path.display(), "created the audit checkpoint key");
            Ok(key)
        }
        // Another process created it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
        Err(e) => Err(error(e.to_string())),
    }
}

/// Whoever can read the key can sign checkpoints of a rewritten history,
/// which is what they are there to expose. Not refused: a key mounted
/// from a secret store often comes readable by its group (0644 or 0640),
/// and the operator may have reasons; said at every start instead.
fn exposure(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the audit checkpoint key is readable by others than its owner (mode {mode:o}): \
                 whoever reads it can sign checkpoints of a rewritten history; chmod 600 it"
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Replaces the kept checkpoint atomically (write, sync, rename).
fn write_kept(path: &Path, kept: &Kept) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&serde_json::to_vec(kept).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bytes_separate_the_fields() {
        assert_ne!(
            Checkpoint::signed_bytes(1, "ab", 2),
            Checkpoint::signed_bytes(1, "abc", 2)
        );
        assert_ne!(
            Checkpoint::signed_bytes(1, "ab", 2),
            Checkpoint::signed_bytes(2, "ab", 1)
        );
    }

    #[test]
    fn key_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("keys").join("audit-key.pem");
        let first = load_or_create_key(&path).expect("create");
        let again = load_or_create_key(&path).expect("load");
        assert_eq!(first.to_bytes(), again.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(exposure(&path), None);
            // A key others can read is used, and said to be exposed.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let warning = exposure(&path).expect("a key readable by others is exposed");
            assert!(warning.contains("mode 644"), "{warning}");
            assert_eq!(
                load_or_create_key(&path).expect("load").to_bytes(),
                first.to_bytes()
            );
        }
        std::fs::write(&path, "not a key").expect("overwrite");
        assert!(matches!(
            load_or_create_key(&path),
            Err(AuditError::Key { .. })
        ));
    }

    #[test]
    fn keys_are_the_pkcs8_files_openssl_writes() {
        // openssl genpkey -algorithm ed25519 (a throwaway key).
        const OPENSSL: &str = "-----BEGIN PRIVATE KEY-----\n\
            MC4CAQAwBQYDK2VwBCIEIGgLVQGiS0s7EpAj4R0PT6FV2IYeamg0d56SuTkeZmhQ\n\
            -----END PRIVATE KEY-----\n";
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("openssl.pem");
        std::fs::write(&path, OPENSSL).expect("write");
        load_or_create_key(&path).expect("an OpenSSL key loads");
        // And a created key has the same shape (version 0, no public key).
        let created = dir.path().join("created.pem");
        load_or_create_key(&created).expect("create");
        let pem = std::fs::read_to_string(&created).expect("read");
        assert!(pem.contains("MC4CAQAwBQYDK2VwBCIEI"), "{pem}");
    }

    #[tokio::test]
    async fn latest_checkpoint_is_kept_beside_the_key() {
        use crate::store::sqlite::SqliteStore;
        use crate::store::suite::{app, ev};
        let dir = tempfile::tempdir().expect("temporary directory");
        let open = |name: &str| {
            let url = format!("sqlite://{}", dir.path().join(name).display());
            async move { Arc::new(SqliteStore::open(&url).await.expect("open")) as Arc<dyn Store> }
        };
        let store = open("review.db").await;
        store
            .create(&app("k1", 1), &[ev("CREATED", 1)], None)
            .await
            .expect("create");
        let key = dir.path().join("audit-key.pem");
        let auditor = Auditor::open(store.clone(), Some(&key)).expect("auditor");
        let first = auditor.checkpoint(false, 5).await.expect("checkpoint");
        assert_eq!(first.sequence, 1);

        let reopened = Auditor::open(store.clone(), Some(&key)).expect("reopen");
        assert_eq!(reopened.checkpoint(false, 6).await.expect("latest"), first);
        assert!(reopened.check(&first).await.expect("check").matches);

        // A database that does not continue the kept checkpoint is not
        // signed over.
        let other = open("other.db").await;
        other
            .create(&app("k2", 1), &[ev("CREATED", 2)], None)
            .await
            .expect("create");
        let moved = Auditor::open(other, Some(&key)).expect("auditor");
        assert!(matches!(
            moved.checkpoint(true, 7).await,
            Err(AuditError::Diverged { .. })
        ));
    }
}
