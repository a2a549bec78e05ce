//! Fuzz targets, none of which may panic; the driver (`test_support::fuzz`)
//! runs them as seeded, time-boxed tests under `cargo test`, and
//! coverage-guided under a fuzzing engine (`cargo bolero test`).
//!
//! - `prost_requests`: every review request type (and the resources) from
//!   arbitrary bytes and from mutated encodings of valid messages, decoded
//!   as every type; what decodes re-encodes stably.
//! - `workflow_sequences`: random command sequences (fitting and random
//!   commands by random actors, time passing, sweeps) through
//!   `Workflow::handle`, `sweep` and `apply`; after every step the
//!   invariants hold, the version counts the events, replay gives the same
//!   state and events survive a JSON round trip.
//! - `workflow_random_states`: reachable applications with their JSON
//!   mutated (other enum names, extreme numbers and dates, missing and
//!   duplicated entries), plus arbitrary JSON for commands and events, then
//!   `handle`, `sweep`, `apply` and the proto conversion.
//! - `grpc_adapter`: the service's adapter in process (SQLite in a
//!   temporary directory, a real classifier on 127.0.0.1:0), every method
//!   called with random, mutated and decoded requests, tokens and deadlines.
//!
//! Environment: `FUZZ_SECONDS` (per target, default 3), `FUZZ_ITERATIONS`
//! (a cap), `FUZZ_SEED` (replays a run), `FUZZ_CASE` (replays the one case a
//! failure names; for `grpc_adapter` the database carries over from earlier
//! cases, so replay the whole run with `FUZZ_SEED`). Each target prints its
//! seed, iterations and rate.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_server::ReviewService;
use futures::StreamExt;
use prost::Message;
use rand::Rng;
use review_svc::workflow::{
    self, apply, Actor, Agency, Application, Command, Event, Filing, ItemOutcome, Level, Outcome,
    Recommendation, Role, State, Workflow,
};
use serde_json::{json, Value};
use test_support::fuzz::{bump, mutate, noise_or_mutated, pick, Entropy, Tally};
use test_support::fuzz_target;

mod adapter;
mod states;
mod walk;
mod wire;

use walk::*;
use wire::*;
