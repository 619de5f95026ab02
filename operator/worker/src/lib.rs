//! The streaming ingestion worker (`meshplane ingest`): a Kafka consumer group on the
//! product's source topic, the pure record pipeline of `meshplane-ingest`, and S3 as the
//! table. Exactly once: a flush writes a marker naming its objects, then the objects under
//! deterministic keys, then commits the offsets, then removes the marker; a worker that
//! starts on a partition with a marker left by an uncommitted flush replays it as the same
//! flush: it consumes the marker's offsets again and closes them as one flush ending at
//! the marker's last offset, which writes byte-identical objects under the same keys (so a
//! late write by a fenced-out worker cannot duplicate or truncate), and removes only the
//! marker's objects that the replay does not rewrite.
#![forbid(unsafe_code)]

pub mod buffer;
pub mod metrics;
pub mod run;
pub mod store;
pub mod stream_out;

pub use run::{run, WorkerError, WorkerSettings};
