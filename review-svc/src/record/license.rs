//! The record's format for licences: their snapshots and shipment rows.
//! Licence events are events of the application's chain and use the
//! event envelope of [`super::encode_event`].

use serde::{Deserialize, Serialize};

use super::{format_of, unreadable, FormatError, FORMAT};
use crate::licensing::{License, Shipment};

#[derive(Serialize)]
struct LicenseOut<'a> {
    format: u32,
    license: &'a License,
}

#[derive(Deserialize)]
struct LicenseIn {
    license: License,
}

#[derive(Serialize)]
struct ShipmentOut<'a> {
    format: u32,
    shipment: &'a Shipment,
}

#[derive(Deserialize)]
struct ShipmentIn {
    shipment: Shipment,
}

/// The bytes of a licence snapshot.
pub fn encode_license(license: &License) -> String {
    serde_json::to_string(&LicenseOut {
        format: FORMAT,
        license,
    })
    .expect("licences serialize")
}

pub fn decode_license(bytes: &str) -> Result<License, FormatError> {
    match format_of(bytes)? {
        2 => serde_json::from_str::<LicenseIn>(bytes)
            .map(|l| l.license)
            .map_err(|e| unreadable(2, e)),
        other => Err(FormatError::UnknownFormat(other)),
    }
}

/// The bytes of a shipment row.
pub fn encode_shipment(shipment: &Shipment) -> String {
    serde_json::to_string(&ShipmentOut {
        format: FORMAT,
        shipment,
    })
    .expect("shipments serialize")
}

pub fn decode_shipment(bytes: &str) -> Result<Shipment, FormatError> {
    match format_of(bytes)? {
        2 => serde_json::from_str::<ShipmentIn>(bytes)
            .map(|s| s.shipment)
            .map_err(|e| unreadable(2, e)),
        other => Err(FormatError::UnknownFormat(other)),
    }
}
