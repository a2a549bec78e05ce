//! The requests the benchmark sends: the same bytes for the classifier, the
//! baseline (which answers them with a canned response captured from the
//! classifier) and, as a line item, review-svc.

use exportcontrol_proto::classifier::v1 as pb;
use test_support::filings::{accelerator, route};

/// A named benchmark payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Payload {
    /// The H200 from the catalogue, exported from the U.S. to China on
    /// 2026-02-01 (licence required, case-by-case, six conditions).
    H200Cn,
    /// A chip given by its specifications (600 dense INT8 TOPS, one 600 mm2
    /// non-planar die) to Saudi Arabia on 2026-02-01.
    SpecSa,
}

impl Payload {
    pub fn item(self) -> pb::classify_item_request::Item {
        match self {
            Payload::H200Cn => pb::classify_item_request::Item::CatalogChip("H200".to_owned()),
            Payload::SpecSa => pb::classify_item_request::Item::Spec(accelerator(600.0)),
        }
    }

    pub fn transaction(self) -> pb::Transaction {
        let country = match self {
            Payload::H200Cn => "CN",
            Payload::SpecSa => "SA",
        };
        route(country)
    }

    pub fn classify_request(self) -> pb::ClassifyItemRequest {
        pb::ClassifyItemRequest {
            item: Some(self.item()),
            transaction: Some(self.transaction()),
            as_of: "2026-02-01".to_owned(),
            ..Default::default()
        }
    }
}
