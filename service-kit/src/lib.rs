//! Server plumbing shared by both services: the parts every gRPC server of
//! this project must have in the same way (reflection, health, limits,
//! graceful shutdown, error details, logging, deadlines), and how both
//! services' rules compare the names of end users (`names`).

pub mod batched_writes;
pub mod client;
pub mod config;
pub mod connection;
pub mod deadline;
pub mod errors;
pub mod logging;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod quota;
pub mod refusals;
pub mod server;
pub mod trace_context;
