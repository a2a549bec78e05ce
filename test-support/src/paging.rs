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
/// where its response keeps the items and the next page's token.
pub trait Paged: Sized + Clone + std::fmt::Debug {
    type Client: Clone;
    type Response;
    type Item;
    fn list(
        client: Self::Client,
        request: tonic::Request<Self>,
    ) -> impl Future<Output = ListResult<Self>> + Send;
    fn set_page_token(&mut self, token: String);
    fn split(response: Self::Response) -> (Vec<Self::Item>, String);
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
            fn split(response: Self::Response) -> (Vec<Self::Item>, String) {
                (response.$items, response.next_page_token)
            }
        }
    };
}

type Review = ReviewServiceClient<Channel>;
type Licenses = LicenseServiceClient<Channel>;
paged!(Review, list_application_events(ListApplicationEventsRequest) -> ListApplicationEventsResponse, events: ApplicationEvent);
paged!(Review, list_applications(ListApplicationsRequest) -> ListApplicationsResponse, applications: Application);
paged!(Licenses, list_shipments(ListShipmentsRequest) -> ListShipmentsResponse, shipments: Shipment);

/// Sends `request` (made a call by `authorize`: credentials, deadline), then
/// again for each next page, and answers the items of all pages in order; a
/// refusal fails the test with the request and its status.
pub async fn every_page<R: Paged>(
    client: &R::Client,
    mut request: R,
    authorize: impl Fn(R) -> tonic::Request<R>,
) -> Vec<R::Item> {
    let mut items = Vec::new();
    loop {
        let (page, next) = match R::list(client.clone(), authorize(request.clone())).await {
            Ok(response) => R::split(response.into_inner()),
            Err(status) => panic!("{request:?}: {status:?}"),
        };
        items.extend(page);
        if next.is_empty() {
            return items;
        }
        request.set_page_token(next);
    }
}
