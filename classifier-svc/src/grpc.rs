//! The gRPC adapter: validates and converts requests, calls the pure rules,
//! converts the answer, and maps every refusal to a status with details.
//! It holds no rules of its own.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use exportcontrol_proto::classifier::v1 as pb;
use exportcontrol_proto::classifier::v1::classifier_service_server::ClassifierService;
use futures::{Stream, StreamExt};
use service_kit::errors::{to_rpc_status, ErrorDomain, Violation};
use service_kit::logging;
use service_kit::metrics::Registry;
use service_kit::paging;
use service_kit::trace_context::TraceContext;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::Level;

use crate::catalog::{Catalog, CatalogChip};
use crate::convert::{self, reason, Lookup, Problem};
use crate::rules::{Decision, RuleBook};

pub const ERRORS: ErrorDomain = ErrorDomain("classifier.exportcontrol");

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 100;

/// The classifier service over the built-in rules and catalogue.
#[derive(Clone)]
pub struct Classifier {
    rules: &'static RuleBook,
    catalog: &'static Catalog,
    metrics: Arc<Registry>,
    page_tokens: paging::PageTokens,
}

impl Classifier {
    pub fn new(metrics: Arc<Registry>) -> Self {
        let catalog = Catalog::builtin();
        Self {
            rules: RuleBook::builtin(),
            catalog,
            metrics,
            page_tokens: catalogue_page_tokens(catalog),
        }
    }

    /// Answers one request; the same path serves the unary and the streaming RPC.
    pub fn classify(
        &self,
        request: &pb::ClassifyItemRequest,
        today: NaiveDate,
        trace: Option<&TraceContext>,
    ) -> Result<pb::ClassifyItemResponse, Status> {
        let query =
            convert::classify_query(request, self.catalog, self.rules).map_err(lookup_status)?;
        let as_of = query.as_of.unwrap_or(today);
        let decision_id = decision_id();
        let span = decision_span(&decision_id, &query.spec.name, as_of, trace);
        let _entered = span.enter();
        let decision = self
            .rules
            .classify_with(
                &query.spec,
                query.transaction.as_ref(),
                as_of,
                query.view.detail(),
            )
            .map_err(domain_refusal)?;
        tracing::debug!(
            rule_set = %decision.rule_set,
            paragraph = %decision.classification.paragraph,
            policy = ?decision.license.as_ref().map(|l| l.review_policy),
            market_justification = %market_justification(request),
            "classified"
        );
        self.count(&decision);
        let item_name = query.spec.name.clone();
        Ok(convert::decision(
            decision,
            decision_id,
            item_name,
            query.view,
        ))
    }

    /// The answer under every rule set up to `as_of`.
    pub fn history(
        &self,
        request: &pb::ClassifyItemHistoryRequest,
        today: NaiveDate,
    ) -> Result<pb::ClassifyItemHistoryResponse, Status> {
        use pb::classify_item_history_request::Item as H;
        use pb::classify_item_request::Item as C;
        // The same fields as a ClassifyItem request, converted the same way.
        let as_request = pb::ClassifyItemRequest {
            item: request.item.as_ref().map(|item| match item {
                H::Spec(spec) => C::Spec(spec.clone()),
                H::CatalogChip(name) => C::CatalogChip(name.clone()),
            }),
            transaction: request.transaction.clone(),
            as_of: request.as_of.clone(),
            view: request.view,
        };
        let query = convert::classify_query(&as_request, self.catalog, self.rules)
            .map_err(lookup_status)?;
        let until = query.as_of.unwrap_or(today);
        let entries = self
            .rules
            .history(&query.spec, query.transaction.as_ref(), until)
            .map_err(domain_refusal)?;
        let item_name = query.spec.name.clone();
        Ok(pb::ClassifyItemHistoryResponse {
            item_name: item_name.clone(),
            entries: entries
                .into_iter()
                .map(|entry| {
                    let id = decision_id();
                    convert::history_entry(entry, id, item_name.clone(), query.view)
                })
                .collect(),
        })
    }

    /// Counts the decision by ECCN paragraph and review policy.
    fn count(&self, decision: &Decision<'_>) {
        let policy = decision
            .license
            .as_ref()
            .map(|l| convert::review_policy(l.review_policy).as_str_name())
            .unwrap_or("NO_TRANSACTION");
        let paragraph = match decision.classification.paragraph {
            "" => "NONE",
            paragraph => paragraph,
        };
        self.metrics.inc(
            "classifier_decisions_total",
            "Classifications answered, by ECCN paragraph and review policy",
            &[("paragraph", paragraph), ("review_policy", policy)],
        );
    }

    /// Answers one item of a stream: an invalid item gets an answer with
    /// `error` set, a transport error is passed on (and ends the stream).
    fn answer_item(
        &self,
        index: usize,
        item: Result<pb::ClassifyItemRequest, Status>,
        today: NaiveDate,
        trace: Option<&TraceContext>,
    ) -> Result<pb::ClassifyItemResponse, Status> {
        let mut response = self
            .classify(&item?, today, trace)
            .unwrap_or_else(|status| pb::ClassifyItemResponse {
                error: Some(to_rpc_status(&status)),
                ..Default::default()
            });
        response.index = index as u64;
        Ok(response)
    }

    fn chip(&self, name: &str, field: &str) -> Result<&'static CatalogChip, Status> {
        self.catalog
            .resolve(name)
            .map_err(|e| lookup_status(convert::catalog_error(e, name, field)))
    }
}

/// The span of one decision, "classify": its fields (the decision id first)
/// go with every log line written while deciding and, with span export on,
/// it is exported as a child of the caller's span. The log layer formats the
/// fields as the span is created, about an eighth of a call's CPU; since a
/// decision logs nothing above debug, the span is made only when something
/// can see it: debug logging here, or span export.
fn decision_span(
    decision_id: &str,
    item: &str,
    as_of: NaiveDate,
    trace: Option<&TraceContext>,
) -> tracing::Span {
    if !(tracing::enabled!(Level::DEBUG) || logging::exporting_spans()) {
        return tracing::Span::none();
    }
    let trace_id = trace.map(|t| t.trace_id.as_str()).unwrap_or_default();
    let span =
        tracing::info_span!("classify", decision_id = %decision_id, item = %item, %as_of, trace_id);
    if let Some(caller) = trace {
        caller.attach_child(&span);
    }
    span
}

/// A fresh UUIDv7, hyphenated, lower case: written straight into its
/// string rather than through the formatting machinery of `to_string`.
fn decision_id() -> String {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}

fn market_justification(request: &pb::ClassifyItemRequest) -> &str {
    match &request.item {
        Some(pb::classify_item_request::Item::Spec(spec)) => &spec.market_justification,
        _ => "catalogue entry",
    }
}

/// INVALID_ARGUMENT naming every problem (see
/// `service_kit::errors::ErrorDomain::invalid_argument`).
pub fn bad_request(problems: Vec<Problem>) -> Status {
    ERRORS.invalid_argument(problems.into_iter().map(Violation::from).collect())
}

fn refuse(reason: &'static str, field: &str, description: impl Into<String>) -> Status {
    bad_request(vec![Problem::new(reason, field, description)])
}

fn domain_refusal(invalid: crate::rules::InvalidRequest) -> Status {
    bad_request(invalid.0.into_iter().map(Problem::from).collect())
}

fn lookup_status(lookup: Lookup) -> Status {
    match lookup {
        Lookup::Invalid(problems) => bad_request(problems),
        Lookup::UnknownChip { field, name } => ERRORS.status_with_violations(
            Code::NotFound,
            "CHIP_NOT_FOUND",
            format!("no chip {name:?} in the catalogue; ListChips shows the names"),
            [("name", name.clone())],
            vec![Violation::new(
                field,
                format!("no chip {name:?} in the catalogue"),
            )],
        ),
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<pb::ClassifyItemResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ClassifierService for Classifier {
    async fn classify_item(
        &self,
        request: Request<pb::ClassifyItemRequest>,
    ) -> Result<Response<pb::ClassifyItemResponse>, Status> {
        let trace = TraceContext::from_metadata(request.metadata());
        self.classify(request.get_ref(), today(), trace.as_ref())
            .map(Response::new)
    }

    type ClassifyItemsStream = ResponseStream;

    /// Classifies each item on the stream's own task, as it is read. Handing
    /// chunks of items to other tasks, for a second core, was measured slower
    /// on a two-core machine: the hand-off and freeing each answer on another
    /// thread than built it cost more per item than classifying it.
    async fn classify_items(
        &self,
        request: Request<Streaming<pb::ClassifyItemRequest>>,
    ) -> Result<Response<Self::ClassifyItemsStream>, Status> {
        let classifier = self.clone();
        let today = today();
        let trace = TraceContext::from_metadata(request.metadata());
        let responses = request
            .into_inner()
            .enumerate()
            .map(move |(index, item)| classifier.answer_item(index, item, today, trace.as_ref()));
        Ok(Response::new(Box::pin(responses)))
    }

    async fn list_chips(
        &self,
        request: Request<pb::ListChipsRequest>,
    ) -> Result<Response<pb::ListChipsResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size)?;
        let vendor = request.vendor.to_ascii_lowercase();
        let query = paging::fingerprint(&["chips", &vendor]);
        let offset = if request.page_token.is_empty() {
            0
        } else {
            self.page_tokens
                .decode(&request.page_token, &query)
                .ok()
                .and_then(|cursor| cursor.parse::<usize>().ok())
                .ok_or_else(|| {
                    refuse(
                        "INVALID_PAGE_TOKEN",
                        "page_token",
                        "not a token returned by ListChips with the same vendor filter",
                    )
                })?
        };
        let matching: Vec<&CatalogChip> = self
            .catalog
            .chips()
            .iter()
            .filter(|chip| vendor.is_empty() || chip.vendor.to_ascii_lowercase() == vendor)
            .collect();
        let page: Vec<pb::Chip> = matching
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|chip| chip_to_proto(chip))
            .collect();
        let next = offset + page.len();
        let next_page_token = if next < matching.len() {
            self.page_tokens.encode(&query, &next.to_string())
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListChipsResponse {
            chips: page,
            next_page_token,
            total_size: matching.len() as i32,
        }))
    }

    async fn get_chip(
        &self,
        request: Request<pb::GetChipRequest>,
    ) -> Result<Response<pb::Chip>, Status> {
        let name = &request.get_ref().name;
        if name.is_empty() {
            return Err(refuse(
                reason::MISSING_FIELD,
                "name",
                "required: chips/{id} or a chip name such as H200",
            ));
        }
        self.chip(name, "name")
            .map(|chip| Response::new(chip_to_proto(chip)))
    }

    async fn classify_item_history(
        &self,
        request: Request<pb::ClassifyItemHistoryRequest>,
    ) -> Result<Response<pb::ClassifyItemHistoryResponse>, Status> {
        self.history(request.get_ref(), today()).map(Response::new)
    }

    async fn list_rule_sets(
        &self,
        _request: Request<pb::ListRuleSetsRequest>,
    ) -> Result<Response<pb::ListRuleSetsResponse>, Status> {
        let rule_sets = self
            .rules
            .rule_sets()
            .into_iter()
            .map(|set| pb::RuleSet {
                id: set.id,
                effective_date: set.effective.format("%Y-%m-%d").to_string(),
                other_dates: set.other_dates,
                summary: set.summary,
                citations: set.citations,
                source: convert::source_tag(set.source) as i32,
                confirmed: set.confirmed,
            })
            .collect();
        Ok(Response::new(pb::ListRuleSetsResponse {
            rule_sets,
            country_group_snapshots: self.rules.country_group_snapshots(),
        }))
    }
}

fn page_size(requested: i32) -> Result<usize, Status> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(refuse(
            "INVALID_PAGE_SIZE",
            "page_size",
            format!("must not be negative, got {n}"),
        )),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

fn chip_to_proto(chip: &CatalogChip) -> pb::Chip {
    pb::Chip {
        name: format!("chips/{}", chip.id),
        display_name: chip.display_name.clone(),
        vendor: chip.vendor.clone(),
        spec: Some(convert::spec_to_proto(&chip.spec)),
        sources: chip.sources.clone(),
        notes: chip.notes.clone(),
        aliases: chip.aliases.clone(),
    }
}

/// ListChips' page tokens are keyed by the catalogue itself: every copy of
/// the classifier with the same catalogue reads the others' tokens (they
/// run behind one load balancer), and a token from another catalogue is
/// refused. The key is not secret (the catalogue is public, and a token
/// only moves through it); what it gives is integrity against accident.
fn catalogue_page_tokens(catalog: &Catalog) -> paging::PageTokens {
    use sha2::Digest;
    let mut key = sha2::Sha256::new();
    key.update(b"classifier-svc ListChips\n");
    for chip in catalog.chips() {
        key.update(chip.id.as_bytes());
        key.update(b"\n");
    }
    paging::PageTokens::new(&key.finalize())
}
