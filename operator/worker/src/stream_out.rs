//! The stream output port: every row also republished, masked, to the product's output
//! topic as it is decoded (the sub-second path). At least once: before a flush commits
//! source offsets, every event it covers has been acknowledged by the output topic; a
//! crash before that commit republishes them on replay.
//!
//! Each event carries the instant it was consumed; the delivery report observes the
//! stream port's latency (consumed → acknowledged by the output topic) from it.

use prometheus::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why the stream output failed.
#[derive(Debug, Error)]
pub enum StreamOutputError {
    /// The producer could not be created.
    #[error("failed to create the producer for output topic {topic}: {source}")]
    Create {
        /// Output topic.
        topic: String,
        /// Cause.
        source: KafkaError,
    },
    /// Events were not acknowledged: the flush must not commit (they are republished on replay).
    #[error("{failed} events were not delivered to output topic {topic}; not committing so they are republished")]
    Undelivered {
        /// Output topic.
        topic: String,
        /// How many.
        failed: u64,
    },
    /// Outstanding events did not drain in time.
    #[error("output topic {topic} did not acknowledge outstanding events: {source}")]
    Flush {
        /// Output topic.
        topic: String,
        /// Cause.
        source: KafkaError,
    },
}

/// Counts delivery failures reported by librdkafka and times the deliveries.
struct Deliveries {
    failed: Arc<AtomicU64>,
    latency: Histogram,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    /// When the event was consumed from the source topic.
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, consumed_at: Self::DeliveryOpaque) {
        match result {
            Ok(_) => self.latency.observe(consumed_at.elapsed().as_secs_f64()),
            Err((error, _)) => {
                tracing::warn!(%error, "an event was not delivered to the output topic");
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A producer on the product's output topic.
pub struct StreamOutput {
    topic: String,
    producer: ThreadedProducer<Deliveries>,
    failed: Arc<AtomicU64>,
}

impl StreamOutput {
    /// An idempotent producer on `topic` at `bootstrap`; `latency` observes each
    /// acknowledged event's time since it was consumed.
    pub fn new(
        bootstrap: &str,
        topic: &str,
        latency: Histogram,
    ) -> Result<StreamOutput, StreamOutputError> {
        let failed = Arc::new(AtomicU64::new(0));
        let context = Deliveries {
            failed: failed.clone(),
            latency,
        };
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .create_with_context(context)
            .map_err(|source| StreamOutputError::Create {
                topic: topic.to_owned(),
                source,
            })?;
        Ok(StreamOutput {
            topic: topic.to_owned(),
            producer,
            failed,
        })
    }

    /// Queues one event, keyed like its source event (so per-key order is kept), with the
    /// instant it was consumed. Waits while librdkafka's queue is full.
    pub fn publish(&self, key: Option<&[u8]>, payload: &[u8], consumed_at: Instant) {
        let mut record =
            BaseRecord::with_opaque_to(&self.topic, Box::new(consumed_at)).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => {
                    // Counted as undelivered: the next flush refuses to commit.
                    tracing::warn!(%error, "an event could not be queued for the output topic");
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Waits until everything queued is acknowledged; an error if anything failed.
    pub fn drain(&self, timeout: Duration) -> Result<(), StreamOutputError> {
        self.producer
            .flush(timeout)
            .map_err(|source| StreamOutputError::Flush {
                topic: self.topic.clone(),
                source,
            })?;
        match self.failed.load(Ordering::Relaxed) {
            0 => Ok(()),
            failed => Err(StreamOutputError::Undelivered {
                topic: self.topic.clone(),
                failed,
            }),
        }
    }
}
