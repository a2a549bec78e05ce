//! The requests the benchmark sends: the same bytes for the classifier, the
//! baseline (which answers them with a canned response captured from the
//! classifier) and, as a line item, review-svc.

use exportcontrol_proto::classifier::v1 as pb;

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
            Payload::SpecSa => pb::classify_item_request::Item::Spec(pb::ChipSpec {
                name: "my-accelerator".to_owned(),
                kind: pb::ItemKind::IntegratedCircuit as i32,
                market: pb::Market::Datacenter as i32,
                rates: vec![pb::ProcessingRate {
                    bit_length: 8,
                    dense_tops: 600.0,
                    format: "INT8".to_owned(),
                }],
                dies: vec![pb::Die {
                    area_mm2: 600.0,
                    non_planar: true,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    pub fn transaction(self) -> pb::Transaction {
        let country = match self {
            Payload::H200Cn => "CN",
            Payload::SpecSa => "SA",
        };
        pb::Transaction {
            destination_country: country.to_owned(),
            end_user_headquarters_country: country.to_owned(),
            ultimate_parent_headquarters_country: country.to_owned(),
            export_type: pb::ExportType::ExportFromUs as i32,
            is_informed_notice_received: false,
            ..Default::default()
        }
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
