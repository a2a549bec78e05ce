//! The [`Store`](super::Store) implementation both stores share: each
//! gives what differs by dialect (how an application write and a licence
//! job are run, the audit horizon), [`impl_store!`] the rest.

use super::batch::WriteOp;
use super::{ApplicationRow, IdempotentRequest, NewEvent};

/// An application write as the caller gave it: a create when
/// `expected_version` is None, else an update from that version.
#[derive(Clone, Copy)]
pub(crate) struct Write<'a> {
    pub(crate) expected_version: Option<i64>,
    pub(crate) row: &'a ApplicationRow,
    pub(crate) events: &'a [NewEvent],
    pub(crate) request: Option<&'a IdempotentRequest>,
}

impl Write<'_> {
    /// The write as queued for a writer task.
    pub(crate) fn queued(self) -> WriteOp {
        let (row, events, request) = (
            self.row.clone(),
            self.events.to_vec(),
            self.request.cloned(),
        );
        match self.expected_version {
            None => WriteOp::Create {
                row,
                events,
                request,
            },
            Some(expected_version) => WriteOp::Update {
                expected_version,
                row,
                events,
                request,
            },
        }
    }
}

/// Implements [`Store`](super::Store) for a store that has a
/// `reads: Reads<_>` field, a `write` method (how it runs an application
/// [`Write`]) and a `license_job` method (how it runs a
/// licence job): the reads are the shared ones of [`Reads`], the
/// application writes are checked and handed to `write`, and the licence
/// writes hand their job to `license_job`; the audit horizon, which
/// differs by dialect, is given.
///
/// [`Reads`]: super::reads::Reads
macro_rules! impl_store {
    ($store:ty { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            $($own)*

            async fn create(
                &self,
                row: &ApplicationRow,
                events: &[NewEvent],
                request: Option<&IdempotentRequest>,
            ) -> Result<WriteOutcome, StoreError> {
                let expected_version = None;
                self.write($crate::store::impl_store::Write { expected_version, row, events, request })
                    .await
            }

            async fn update(
                &self,
                expected_version: i64,
                row: &ApplicationRow,
                events: &[NewEvent],
                request: Option<&IdempotentRequest>,
            ) -> Result<WriteOutcome, StoreError> {
                $crate::store::batch::check_new_version(expected_version, row)?;
                let expected_version = Some(expected_version);
                self.write($crate::store::impl_store::Write { expected_version, row, events, request })
                    .await
            }

            async fn get(&self, id: &str) -> Result<Option<ApplicationRow>, StoreError> {
                self.reads.get(id).await
            }

            async fn list(
                &self,
                filter: &ListFilter,
                after: Option<&ListCursor>,
                limit: u32,
            ) -> Result<Vec<ApplicationRow>, StoreError> {
                self.reads.list(filter, after, limit).await
            }

            async fn events(
                &self,
                application_id: Option<&str>,
                after_sequence: i64,
                limit: u32,
            ) -> Result<Vec<StoredEvent>, StoreError> {
                self.reads.events(application_id, after_sequence, limit).await
            }

            async fn written_after(
                &self,
                after_sequence: i64,
                limit: u32,
            ) -> Result<Vec<(i64, String)>, StoreError> {
                self.reads.written_after(after_sequence, limit).await
            }

            async fn events_of_kinds(
                &self,
                application_ids: &[&str],
                kinds: &[&str],
            ) -> Result<Vec<StoredEvent>, StoreError> {
                self.reads.events_of_kinds(application_ids, kinds).await
            }

            async fn due(&self, now: i64, limit: u32) -> Result<Vec<ApplicationRow>, StoreError> {
                self.reads.due(now, limit).await
            }

            async fn census(&self, now: i64) -> Result<Census, StoreError> {
                self.reads.census(now).await
            }

            async fn find_request(
                &self,
                request_id: &str,
            ) -> Result<Option<(String, String)>, StoreError> {
                self.reads.find_request(request_id).await
            }

            async fn verify_chain(
                &self,
                application_id: Option<&str>,
            ) -> Result<ChainReport, StoreError> {
                self.reads.verify_chain(application_id).await
            }

            async fn audit_fold(
                &self,
                from: AuditDigest,
                up_to: i64,
            ) -> Result<AuditDigest, StoreError> {
                self.reads.audit_fold(from, up_to).await
            }

            async fn service_key(
                &self,
                purpose: &str,
                fresh_hex: &str,
            ) -> Result<String, StoreError> {
                self.reads.service_key(purpose, fresh_hex).await
            }

            async fn issue_license(
                &self,
                expected_version: i64,
                row: &ApplicationRow,
                events: &[NewEvent],
                request: Option<&IdempotentRequest>,
                license: &$crate::store::LicenseRow,
            ) -> Result<WriteOutcome, StoreError> {
                use $crate::store::licenses::{issue_outcome, IssueJob, LicenseJob};
                $crate::store::batch::check_new_version(expected_version, row)?;
                issue_outcome(
                    self.license_job(LicenseJob::Issue(Box::new(IssueJob {
                        expected_version,
                        row: row.clone(),
                        events: events.to_vec(),
                        request: request.cloned(),
                        license: license.clone(),
                    })))
                    .await?,
                )
            }

            async fn change_license(
                &self,
                license_id: &str,
                counter_keys: &[String],
                request: Option<&IdempotentRequest>,
                decide: $crate::store::Decide,
            ) -> Result<$crate::store::LicenseOutcome, StoreError> {
                self.license_job($crate::store::licenses::LicenseJob::Change {
                    license_id: license_id.to_owned(),
                    counter_keys: counter_keys.to_vec(),
                    request: request.cloned(),
                    decide,
                })
                .await
            }

            async fn get_license(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::LicenseRow>, StoreError> {
                self.reads.licenses().get(id).await
            }

            async fn list_licenses(
                &self,
                filter: &$crate::store::LicenseFilter,
                after: Option<&$crate::store::KeyCursor>,
                limit: u32,
            ) -> Result<Vec<$crate::store::LicenseRow>, StoreError> {
                self.reads.licenses().list(filter, after, limit).await
            }

            async fn licenses_due(
                &self,
                now: i64,
                limit: u32,
            ) -> Result<Vec<$crate::store::LicenseRow>, StoreError> {
                self.reads.licenses().due(now, limit).await
            }

            async fn list_shipments(
                &self,
                filter: &$crate::store::ShipmentFilter,
                after: Option<&$crate::store::KeyCursor>,
                limit: u32,
            ) -> Result<Vec<$crate::store::ShipmentRow>, StoreError> {
                self.reads.licenses().shipments(filter, after, limit).await
            }

            async fn license_counters(
                &self,
                keys: &[String],
            ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
                self.reads.licenses().counters(keys).await
            }
        }
    };
}

pub(crate) use impl_store;
