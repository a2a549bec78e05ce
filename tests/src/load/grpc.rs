//! Load over gRPC: `connections` HTTP/2 connections, `concurrency` workers
//! spread over them, each with one call in flight (unary) or one stream
//! open (ClassifyItems).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::classifier::v1::classifier_service_client::ClassifierServiceClient;
use exportcontrol_proto::review::v1 as rpb;
use exportcontrol_proto::review::v1::license_service_client::LicenseServiceClient;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use prost::Message;
use test_support::filings::{domestic_shipment_request, now_timestamp, shipment_request};
use test_support::review::{approve, bearer};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use super::payload::Payload;
use super::{code_name, Stats, Ticket, Window};

/// Which call each worker makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    Classify,
    ClassifyStream,
    CreateApplication,
    ListApplications,
    /// RecordShipment: one unit against one of `CallSpec::licenses`.
    RecordShipment,
}

/// Everything a call needs besides its connection.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub rpc: Rpc,
    pub payload: Payload,
    /// Sent as `authorization: Bearer ...` (review-svc).
    pub token: Option<String>,
    /// Sent as `grpc-timeout`.
    pub timeout: Duration,
    /// CreateApplication: a fresh request id (UUID) on every call.
    pub request_ids: bool,
    /// ListApplications.
    pub page_size: i32,
    pub state: Option<rpb::State>,
    /// ListApplications: follow next_page_token (from the first page again at the end).
    pub follow_pages: bool,
    /// ClassifyItem(s): the view asked for (ClassificationView as a number).
    pub view: i32,
    /// RecordShipment: the licences shipped against, each call the next.
    pub licenses: Arc<Vec<String>>,
}

pub async fn connect(target: &str, connections: usize) -> Result<Vec<Channel>, String> {
    let url = if target.starts_with("http://") || target.starts_with("https://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("{url}: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|e| format!("cannot connect to {url}: {e}"))?,
        );
    }
    Ok(channels)
}

/// The application filed by CreateApplication: 5,000 units of the payload's item.
pub fn application(payload: Payload) -> rpb::Application {
    let item = match payload.item() {
        cpb::classify_item_request::Item::CatalogChip(name) => {
            rpb::line_item::Item::CatalogChip(name)
        }
        cpb::classify_item_request::Item::Spec(spec) => rpb::line_item::Item::Spec(spec),
    };
    rpb::Application {
        items: vec![rpb::LineItem {
            item: Some(item),
            quantity: 5000,
            unit_value_usd_cents: 3_000_000,
        }],
        transaction: Some(rpb::ExportTransaction {
            route: Some(payload.transaction()),
            end_user_name: "Example Cloud Co.".to_owned(),
            end_use_statement: "Commercial cloud inference".to_owned(),
        }),
        ..Default::default()
    }
}

struct Caller {
    spec: CallSpec,
    channel: Channel,
    authorization: Option<MetadataValue<Ascii>>,
    classify: cpb::ClassifyItemRequest,
    application: rpb::Application,
    page_token: String,
    /// Calls made so far, and this worker's number (which licence is next).
    calls: usize,
    worker: usize,
}

impl Caller {
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.spec.timeout);
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }

    /// One call: (items received, encoded bytes) or its status.
    async fn once(&mut self) -> Result<(u64, u64), Status> {
        match self.spec.rpc {
            Rpc::Classify => {
                let request = self.request(self.classify.clone());
                let response = ClassifierServiceClient::new(self.channel.clone())
                    .classify_item(request)
                    .await?
                    .into_inner();
                Ok((0, response.encoded_len() as u64))
            }
            Rpc::CreateApplication => {
                let request_id = if self.spec.request_ids {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    String::new()
                };
                let request = self.request(rpb::CreateApplicationRequest {
                    application: Some(self.application.clone()),
                    request_id,
                });
                let response = ReviewServiceClient::new(self.channel.clone())
                    .create_application(request)
                    .await?
                    .into_inner();
                Ok((0, response.encoded_len() as u64))
            }
            Rpc::ListApplications => {
                let request = self.request(rpb::ListApplicationsRequest {
                    page_size: self.spec.page_size,
                    page_token: self.page_token.clone(),
                    state: self.spec.state.map(|s| s as i32).unwrap_or(0),
                    ..Default::default()
                });
                let response = ReviewServiceClient::new(self.channel.clone())
                    .list_applications(request)
                    .await?
                    .into_inner();
                if self.spec.follow_pages {
                    self.page_token = response.next_page_token.clone();
                }
                Ok((
                    response.applications.len() as u64,
                    response.encoded_len() as u64,
                ))
            }
            Rpc::RecordShipment => {
                let licenses = &self.spec.licenses;
                let license = licenses
                    .get((self.worker + self.calls * 31) % licenses.len().max(1))
                    .map(String::as_str)
                    .unwrap_or_default();
                self.calls += 1;
                let request = self.request(shipment_request(license, 1, now_timestamp()));
                let response = LicenseServiceClient::new(self.channel.clone())
                    .record_shipment(request)
                    .await?
                    .into_inner();
                Ok((0, response.encoded_len() as u64))
            }
            Rpc::ClassifyStream => unreachable!("streams are driven by stream_worker"),
        }
    }
}

/// Issues `count` licences to dev-applicant for the H200 to China, each
/// for its own end user (named for this call) and with U.S. domestic shipments enough for the
/// aggregate-TPP cap: filed, recommended by the four agencies, approved by
/// the licensing officer. Returns their names.
pub async fn prepare_licenses(
    channel: &Channel,
    count: usize,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    use futures::StreamExt;
    fn authed<T>(message: T, token: &str) -> Request<T> {
        bearer(message, token, Duration::from_secs(30))
    }
    // The per-customer unit cap counts every licence of an end user: each
    // call names its own end users, so a run never draws on another's.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let one = |i: usize| {
        let channel = channel.clone();
        async move {
            let mut review = ReviewServiceClient::new(channel.clone());
            let mut application = application(Payload::H200Cn);
            application.items[0].quantity = 1_000_000_000;
            if let Some(t) = application.transaction.as_mut() {
                t.end_user_name = format!("Bench Cloud {run}-{i}");
            }
            let app = review
                .create_application(authed(
                    rpb::CreateApplicationRequest {
                        application: Some(application),
                        request_id: uuid::Uuid::new_v4().to_string(),
                    },
                    "dev-applicant",
                ))
                .await
                .map_err(|s| format!("file: {s}"))?
                .into_inner();
            let app = approve(&mut review, app, Duration::from_secs(30)).await?;
            LicenseServiceClient::new(channel)
                .record_domestic_shipment(authed(
                    domestic_shipment_request(&app.license, 4_000_000_000, 0, now_timestamp()),
                    "dev-applicant",
                ))
                .await
                .map_err(|s| format!("domestic shipment: {s}"))?;
            Ok::<String, String>(app.license)
        }
    };
    futures::stream::iter(0..count)
        .map(one)
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn unary_worker(mut caller: Caller, window: Arc<Window>) -> Stats {
    let mut stats = Stats::default();
    while let Some(ticket) = window.ticket() {
        let started = Instant::now();
        let result = caller.once().await;
        let outcome = result.map_err(|status| code_name(status.code() as i32));
        stats.record(&window, ticket, (started, Instant::now()), outcome);
    }
    stats
}

/// One ClassifyItems stream: requests are produced as fast as HTTP/2 flow
/// control takes them; each answer's latency is measured from the moment its
/// request was handed to the stream (answers come in order).
async fn stream_worker(caller: Caller, window: Arc<Window>) -> Stats {
    let mut stats = Stats::default();
    let sent: Arc<Mutex<VecDeque<(Instant, Ticket)>>> = Arc::default();
    let outgoing = {
        let sent = Arc::clone(&sent);
        let window = Arc::clone(&window);
        let request = caller.classify.clone();
        futures::stream::iter(std::iter::from_fn(move || {
            let ticket = window.ticket()?;
            sent.lock().ok()?.push_back((Instant::now(), ticket));
            Some(request.clone())
        }))
    };
    let mut client = ClassifierServiceClient::new(caller.channel.clone());
    let started = Instant::now();
    let mut responses = match client.classify_items(caller.request(outgoing)).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            stats.last_done = Some(Instant::now());
            stats.count(code_name(status.code() as i32));
            return stats;
        }
    };
    let mut ok_items = 0u64;
    let outcome = loop {
        match responses.message().await {
            Ok(Some(item)) => {
                let done = Instant::now();
                let Some((at, ticket)) = sent.lock().ok().and_then(|mut q| q.pop_front()) else {
                    break Err(Status::internal("more answers than requests"));
                };
                if item.error.is_none() {
                    stats.ok_all += 1;
                }
                if !window.counts(ticket, done) {
                    continue;
                }
                stats.last_done = Some(done);
                match &item.error {
                    None => {
                        ok_items += 1;
                        stats.response_bytes += item.encoded_len() as u64;
                        stats.latency.record((done - at).as_nanos() as u64);
                    }
                    Some(error) => {
                        *stats
                            .item_statuses
                            .entry(code_name(error.code))
                            .or_default() += 1
                    }
                }
            }
            Ok(None) => break Ok(()),
            Err(status) => break Err(status),
        }
    };
    stats.items = ok_items;
    *stats.item_statuses.entry("OK").or_default() += ok_items;
    // The stream itself is one call: its status is the stream's end.
    match outcome {
        Ok(()) => stats.count("OK"),
        Err(status) => stats.count(code_name(status.code() as i32)),
    }
    if stats.last_done.is_none() {
        stats.last_done = Some(started);
    }
    stats
}

/// Runs the load and returns the merged counters.
pub async fn run(
    channels: &[Channel],
    concurrency: usize,
    spec: &CallSpec,
    window: Arc<Window>,
) -> Result<Stats, String> {
    let authorization = match &spec.token {
        Some(token) => Some(
            format!("Bearer {token}")
                .parse::<MetadataValue<Ascii>>()
                .map_err(|e| format!("token: {e}"))?,
        ),
        None => None,
    };
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency.max(1) {
        let caller = Caller {
            spec: spec.clone(),
            channel: channels[worker % channels.len()].clone(),
            authorization: authorization.clone(),
            classify: cpb::ClassifyItemRequest {
                view: spec.view,
                ..spec.payload.classify_request()
            },
            application: application(spec.payload),
            page_token: String::new(),
            calls: 0,
            worker,
        };
        let window = Arc::clone(&window);
        tasks.push(tokio::spawn(async move {
            if caller.spec.rpc == Rpc::ClassifyStream {
                stream_worker(caller, window).await
            } else {
                unary_worker(caller, window).await
            }
        }));
    }
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("worker failed: {e}"))?);
    }
    Ok(stats)
}
