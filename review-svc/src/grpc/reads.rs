//! GetApplication and ListApplications.

use exportcontrol_proto::review::v1 as pb;
use prost::Message;
use service_kit::paging;
use tonic::{Request, Response, Status};

use super::{errors, limits, page_token_error, validate, Review, ALL_APPLICATIONS};
use crate::convert;
use crate::store::{ListCursor, ListFilter};
use crate::workflow;

const DEFAULT_PAGE_SIZE: u32 = 50;
/// A page is built whole in memory (each application with the
/// classifier's answers is several kilobytes in every form it takes on the
/// way out), so the largest page bounds the memory a list call can take.
const MAX_PAGE_SIZE: u32 = 200;

impl Review {
    pub(super) async fn get(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let actor = self.actor(&request)?;
        let id = validate::application_id(&request.get_ref().name, "name")?;
        let app = self.readable(&actor, &id).await?;
        Ok(Response::new(self.servable(&app)))
    }

    pub(super) async fn list(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let page_size = validate::page_size(message.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut violations = Vec::new();
        let state =
            validate::optional_enum(message.state, "state", convert::state_from, &mut violations);
        let level =
            validate::optional_enum(message.level, "level", convert::level_from, &mut violations);
        let agency = validate::optional_enum(
            message.awaiting_agency,
            "awaiting_agency",
            convert::agency_from,
            &mut violations,
        );
        let basic = match pb::ApplicationView::try_from(message.view) {
            Ok(pb::ApplicationView::Basic) => true,
            Ok(pb::ApplicationView::Unspecified | pb::ApplicationView::Full) => false,
            Err(_) => {
                violations.push(validate::unknown_enum("view", message.view));
                false
            }
        };
        let destination = validate::country_filter(
            &message.destination_country,
            "destination_country",
            &mut violations,
        );
        validate::finish(violations)?;
        let now = self.clock.now();
        let filter = ListFilter {
            applicant: match workflow::list_scope(&actor) {
                workflow::ListScope::All => None,
                workflow::ListScope::FiledBy(applicant) => Some(applicant),
            },
            state: state.map(|s| s.as_str().to_owned()),
            destination,
            level: level.map(|l| l.as_str().to_owned()),
            awaiting_agency: agency.map(|a| a.as_str().to_owned()),
            overdue_at_or_before: message.overdue.then(|| now.timestamp_millis()),
        };
        // Overdue depends on the time, not on the query, so it is part of
        // the query's identity only as a flag.
        let query = paging::fingerprint(&[
            "applications",
            filter.applicant.as_deref().unwrap_or(""),
            filter.state.as_deref().unwrap_or(""),
            filter.destination.as_deref().unwrap_or(""),
            filter.level.as_deref().unwrap_or(""),
            filter.awaiting_agency.as_deref().unwrap_or(""),
            if message.overdue { "overdue" } else { "" },
        ]);
        let after = if message.page_token.is_empty() {
            None
        } else {
            let (created_at, id) = self
                .keys
                .page_position(&query, &message.page_token)
                .ok_or_else(|| page_token_error("ListApplications"))?;
            Some(ListCursor { created_at, id })
        };
        let apps = self
            .ledger
            .list(&filter, after.as_ref(), page_size + 1)
            .await
            .map_err(|e| errors::ledger(e, ALL_APPLICATIONS))?;
        let rendered: Vec<pb::Application> = apps
            .iter()
            .take(page_size as usize)
            .map(|app| {
                let mut rendered = self.servable(app);
                if basic {
                    // AIP-157 BASIC: without the classifier's full answers.
                    for classification in &mut rendered.classifications {
                        classification.clear_result();
                    }
                }
                rendered
            })
            .collect();
        // As many as fit in one answer: a shorter page, and the token.
        let fit = limits::fitting(
            rendered.iter().map(Message::encoded_len),
            self.limits.page(),
        );
        let more = apps.len() > fit;
        let next_page_token = match (more, fit.checked_sub(1).map(|i| &apps[i])) {
            (true, Some(last)) => {
                self.keys
                    .page_after(&query, last.created_at.timestamp_millis(), &last.id)
            }
            _ => String::new(),
        };
        let mut applications = rendered;
        applications.truncate(fit);
        Ok(Response::new(pb::ListApplicationsResponse {
            applications,
            next_page_token,
        }))
    }

    /// The application as answered. What is filed now always fits; one
    /// recorded before filings were bounded may not: it is sent without the
    /// classifier's full answers (each classification keeps its index) rather
    /// than not at all, so that a
    /// committed write is never answered as a failure.
    pub(super) fn servable(&self, app: &workflow::Application) -> pb::Application {
        self.servable_rendered(app, convert::application(app, &self.rendering()))
    }

    /// How applications are rendered now.
    pub(super) fn rendering(&self) -> convert::Rendering<'_> {
        convert::Rendering {
            deadlines: self.ledger.workflow().deadlines(),
            now: self.clock.now(),
        }
    }

    /// [`Review::servable`] for `app` already rendered (as `rendered`).
    pub(super) fn servable_rendered(
        &self,
        app: &workflow::Application,
        mut rendered: pb::Application,
    ) -> pb::Application {
        rendered.etag = self.keys.etag(&app.id, app.version);
        let size = rendered.encoded_len();
        if size > self.limits.page() {
            tracing::warn!(
                application = %rendered.name,
                size,
                limit = self.limits.page(),
                "application larger than an answer may be: sent without the classifier's answers"
            );
            for classification in &mut rendered.classifications {
                classification.clear_result();
            }
        }
        rendered
    }
}
