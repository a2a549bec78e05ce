//! Lists read to the end: a list request sent again with each next page's
//! token until the last page, for the suites that talk to review-svc over
//! gRPC (in process or as a child process).

use std::future::Future;

use exportcontrol_proto::review::v1 as pb;
use pb::license_service_client::LicenseServiceClient;
use pb::review_service_client::ReviewServiceClient;
use tonic::transport::Channel;

/// What one list call answers.
pub type ListResult<R> = Result<tonic::Response<<R as Paged>::Response>, tonic::Status>;

/// A list request that pages: the call that sends it, its page token, and
/// where its response keeps the next page's token and the items.
pub trait Paged: Sized + Clone + std::fmt::Debug {
    type Client: Clone;
    type Response;
    type Item;
    fn list(
        client: Self::Client,
        request: tonic::Request<Self>,
    ) -> impl Future<Output = ListResult<Self>> + Send;
    fn set_page_token(&mut self, token: String);
    fn next_page_token(response: &Self::Response) -> &str;
    fn items(response: Self::Response) -> Vec<Self::Item>;
}

macro_rules! paged {
    ($client:ty, $call:ident($request:ident) -> $response:ident, $items:ident: $item:ident) => {
        impl Paged for pb::$request {
            type Client = $client;
            type Response = pb::$response;
            type Item = pb::$item;
            async fn list(mut client: $client, request: tonic::Request<Self>) -> ListResult<Self> {
                client.$call(request).await
            }
            fn set_page_token(&mut self, token: String) {
                self.page_token = token;
            }
            fn next_page_token(response: &Self::Response) -> &str {
                &response.next_page_token
            }
            fn items(response: Self::Response) -> Vec<Self::Item> {
                response.$items
            }
        }
    };
}

type Review = ReviewServiceClient<Channel>;
type Licenses = LicenseServiceClient<Channel>;
paged!(Review, list_application_events(ListApplicationEventsRequest) -> ListApplicationEventsResponse, events: ApplicationEvent);
paged!(Review, list_applications(ListApplicationsRequest) -> ListApplicationsResponse, applications: Application);
paged!(Licenses, list_licenses(ListLicensesRequest) -> ListLicensesResponse, licenses: License);
paged!(Licenses, list_shipments(ListShipmentsRequest) -> ListShipmentsResponse, shipments: Shipment);

/// Sends `request` once (made a call by `authorize`: credentials,
/// deadline) and answers its page; a refusal fails the test with the
/// request and its status.
pub async fn one_page<R: Paged>(
    client: &R::Client,
    request: R,
    authorize: impl Fn(R) -> tonic::Request<R>,
) -> R::Response {
    match R::list(client.clone(), authorize(request.clone())).await {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("{request:?}: {status:?}"),
    }
}

/// Sends `request` as [`one_page`] does, then again for each next page, and
/// answers the pages in order.
pub async fn pages<R: Paged>(
    client: &R::Client,
    mut request: R,
    authorize: impl Fn(R) -> tonic::Request<R>,
) -> Vec<R::Response> {
    let mut pages = Vec::new();
    loop {
        let page = one_page(client, request.clone(), &authorize).await;
        let next = R::next_page_token(&page).to_owned();
        pages.push(page);
        if next.is_empty() {
            return pages;
        }
        request.set_page_token(next);
    }
}

/// The items of all the [`pages`] `request` answers, in order.
pub async fn every_page<R: Paged>(
    client: &R::Client,
    request: R,
    authorize: impl Fn(R) -> tonic::Request<R>,
) -> Vec<R::Item> {
    pages(client, request, authorize)
        .await
        .into_iter()
        .flat_map(R::items)
        .collect()
}

/// The next-page tokens of `pages` (all but the last page's, which is empty).
pub fn next_tokens<R: Paged>(pages: &[R::Response]) -> Vec<String> {
    pages
        .iter()
        .map(|page| R::next_page_token(page).to_owned())
        .filter(|token| !token.is_empty())
        .collect()
}
