//! A stand-in for classifier-svc that answers ClassifyItem only: the fault
//! tests' failing classifier and the baseline's canned one.

use std::future::Future;
use std::pin::Pin;

use exportcontrol_proto::classifier::v1 as pb;
use exportcontrol_proto::classifier::v1::classifier_service_server::ClassifierService;
use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

/// Answers ClassifyItem with `answer`, and every other method with
/// UNIMPLEMENTED, saying `unimplemented`.
#[derive(Clone)]
pub struct ClassifyItemOnly<F> {
    pub answer: F,
    pub unimplemented: &'static str,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<pb::ClassifyItemResponse, Status>> + Send>>;

#[tonic::async_trait]
impl<F, A> ClassifierService for ClassifyItemOnly<F>
where
    F: Fn(Request<pb::ClassifyItemRequest>) -> A + Send + Sync + 'static,
    A: Future<Output = Result<Response<pb::ClassifyItemResponse>, Status>> + Send + 'static,
{
    async fn classify_item(
        &self,
        request: Request<pb::ClassifyItemRequest>,
    ) -> Result<Response<pb::ClassifyItemResponse>, Status> {
        (self.answer)(request).await
    }

    type ClassifyItemsStream = ResponseStream;

    async fn classify_items(
        &self,
        _request: Request<Streaming<pb::ClassifyItemRequest>>,
    ) -> Result<Response<Self::ClassifyItemsStream>, Status> {
        Err(Status::unimplemented(self.unimplemented))
    }

    async fn list_chips(
        &self,
        _request: Request<pb::ListChipsRequest>,
    ) -> Result<Response<pb::ListChipsResponse>, Status> {
        Err(Status::unimplemented(self.unimplemented))
    }

    async fn get_chip(
        &self,
        _request: Request<pb::GetChipRequest>,
    ) -> Result<Response<pb::Chip>, Status> {
        Err(Status::unimplemented(self.unimplemented))
    }

    async fn list_rule_sets(
        &self,
        _request: Request<pb::ListRuleSetsRequest>,
    ) -> Result<Response<pb::ListRuleSetsResponse>, Status> {
        Err(Status::unimplemented(self.unimplemented))
    }

    async fn classify_item_history(
        &self,
        _request: Request<pb::ClassifyItemHistoryRequest>,
    ) -> Result<Response<pb::ClassifyItemHistoryResponse>, Status> {
        Err(Status::unimplemented(self.unimplemented))
    }
}
