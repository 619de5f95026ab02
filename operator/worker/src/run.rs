//! The consume → decode → buffer → flush loop.

use crate::buffer::{Flush, PartitionBuffer};
use crate::metrics::Metrics;
use crate::store::{FlushMarker, Store};
use crate::stream_out::{StreamOutput, StreamOutputError};
use futures::FutureExt;
use meshplane_api::ingest_plan::{IngestPlan, PlannedField};
use meshplane_effects::s3::{client as s3_client, S3Settings};
use meshplane_ingest::json_row::to_json;
use meshplane_ingest::keys::flush_marker_key;
use meshplane_ingest::table::TableSchema;
use meshplane_ingest::unique::UniqueChecks;
use meshplane_ingest::{arrow_schema, Decoder, DecoderError, Rejection, Row, TableError};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The worker cannot run or must stop.
#[derive(Debug, Error)]
pub enum WorkerError {
    /// The plan has no Kafka source.
    #[error("plan for {product} has no Kafka source; `meshplane ingest` streams from Kafka")]
    NotStreaming {
        /// Product.
        product: String,
    },
    /// The plan cannot be compiled.
    #[error(transparent)]
    Plan(#[from] DecoderError),
    /// The consumer could not be created or subscribed.
    #[error("failed to start the Kafka consumer for topic {topic}: {source}")]
    Consumer {
        /// Topic.
        topic: String,
        /// Cause.
        source: KafkaError,
    },
    /// A flush could not be encoded.
    #[error(transparent)]
    Encode(#[from] TableError),
    /// The stream output port failed; the flush is not committed.
    #[error(transparent)]
    Stream(#[from] StreamOutputError),
    /// Messages of a partition arrived after a flush of it was abandoned and before the
    /// rebalance revoked it: the consumer's position is past the abandoned flush's events,
    /// which would not be read again, so this process stops (a restart resumes from the
    /// committed offset).
    #[error("partition {partition} delivered messages after its flush was abandoned without a rebalance; restarting from the committed offset")]
    PositionPastAbandonedFlush {
        /// Partition.
        partition: i32,
    },
    /// Offsets could not be committed.
    #[error("failed to commit offsets of partition {partition} (up to {offset}): {source}")]
    Commit {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Cause.
        source: KafkaError,
    },
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The plan.
    pub plan: IngestPlan,
    /// HMAC key for pseudonyms.
    pub masking_key: Vec<u8>,
    /// Object store.
    pub s3: S3Settings,
    /// Close a partition's file after this long (the product's update interval).
    pub flush_interval: Duration,
    /// Close a partition's file when no event arrived for this long.
    pub idle_timeout: Duration,
    /// Close a partition's file at this many events.
    pub max_events: usize,
    /// Close a partition's file at this many source bytes.
    pub max_bytes: usize,
    /// Larger events go to the dead letter.
    pub max_event_bytes: usize,
}

/// Publishes librdkafka's consumer lag into the metrics and records revoked partitions for
/// the consume loop (rebalance callbacks run inside `recv`, between the loop's flushes).
struct WorkerContext {
    metrics: Arc<Metrics>,
    revoked: Mutex<Vec<i32>>,
    /// Set with `revoked`; read once per message, so it is an atomic and not the lock.
    revocation_pending: AtomicBool,
}

impl ClientContext for WorkerContext {
    fn stats(&self, statistics: Statistics) {
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.metrics.consumer_lag.set(lag);
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            revoked.extend(list.elements().iter().map(|e| e.partition()));
            self.revocation_pending.store(true, Ordering::Release);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Eager rebalancing: an assignment is the whole new set, a revocation empties it.
        let assigned = match rebalance {
            Rebalance::Assign(list) => list.count(),
            Rebalance::Revoke(_) => 0,
            Rebalance::Error(_) => return,
        };
        self.metrics
            .partitions_assigned
            .set(i64::try_from(assigned).unwrap_or(i64::MAX));
    }
}

impl WorkerContext {
    fn take_revoked(&self) -> Vec<i32> {
        if !self.revocation_pending.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

type WorkerConsumer = StreamConsumer<WorkerContext>;

/// Messages handled per wake-up of the consume loop at most.
const DRAIN_BATCH: usize = 1024;

/// A consumed event, decoded; the Kafka message itself is already released.
struct Incoming {
    partition: i32,
    offset: i64,
    size: usize,
    outcome: Result<Row, Rejection>,
    key: Option<Vec<u8>>,
    republish: Option<Vec<u8>>,
}

fn take(message: &BorrowedMessage<'_>, decoder: &Decoder, worker: &Worker) -> Incoming {
    let payload = message.payload().unwrap_or_default();
    let outcome = decoder.decode(payload);
    let (key, republish) = match (&worker.stream, &outcome) {
        (Some(_), Ok(row)) => (
            message.key().map(<[u8]>::to_vec),
            Some(to_json(&worker.fields, row)),
        ),
        _ => (None, None),
    };
    Incoming {
        partition: message.partition(),
        offset: message.offset(),
        size: payload.len(),
        outcome,
        key,
        republish,
    }
}

struct Worker {
    plan: IngestPlan,
    topic: String,
    group: String,
    schema: TableSchema,
    store: Store,
    consumer: WorkerConsumer,
    metrics: Arc<Metrics>,
    buffers: HashMap<i32, PartitionBuffer>,
    /// Partitions whose flush marker was checked since they were assigned.
    recovered: HashSet<i32>,
    /// Partitions with a flush abandoned since they were last revoked.
    abandoned: HashSet<i32>,
    /// Uncommitted flushes found in markers, being replayed to the same boundaries.
    replays: HashMap<i32, FlushMarker>,
    newest_committed_micros: Option<i64>,
    stream: Option<StreamOutput>,
    fields: Vec<PlannedField>,
}

impl Worker {
    fn on_retry(&self) -> impl Fn() + Sync + '_ {
        || self.metrics.s3_retries.inc()
    }

    /// Before consuming a partition: finish or undo a flush a previous process left.
    async fn recover(&mut self, partition: i32) -> Result<(), WorkerError> {
        let key = flush_marker_key(&self.group, partition);
        let retry = || self.metrics.s3_retries.inc();
        let Some(marker) = self.store.marker(&key, &retry).await else {
            return Ok(());
        };
        let committed = self.committed(partition)?;
        if committed.is_some_and(|c| c > marker.end) {
            tracing::info!(
                partition,
                start = marker.start,
                end = marker.end,
                "previous flush was committed; removing its marker"
            );
            self.store.delete(&key, &retry).await;
        } else {
            // Replayed as one flush over the same offsets, the same events make
            // byte-identical objects under the same keys: a late write by the worker that
            // left the marker (stalled, then fenced out of the group) cannot duplicate or
            // truncate anything. The marker stays until the replay commits.
            tracing::warn!(
                partition,
                start = marker.start,
                end = marker.end,
                objects = marker.keys.len(),
                "previous flush was not committed; replaying its offsets as the same flush"
            );
            self.replays.insert(partition, marker);
        }
        Ok(())
    }

    /// Gives up replaying a flush to its boundaries (its first events are gone from the
    /// topic): its objects are removed and the partition is consumed as usual.
    async fn abandon_replay(&mut self, partition: i32) {
        let Some(replay) = self.replays.remove(&partition) else {
            return;
        };
        tracing::warn!(
            partition,
            start = replay.start,
            end = replay.end,
            "the replayed flush's offsets are no longer in the topic; removing its objects"
        );
        let retry = || self.metrics.s3_retries.inc();
        for object in &replay.keys {
            self.store.delete(object, &retry).await;
        }
        self.store
            .delete(&flush_marker_key(&self.group, partition), &retry)
            .await;
    }

    /// Buffers one decoded event (recovering its partition first if new), republishes
    /// it when there is a stream output, and flushes a buffer that reached a size limit.
    async fn accept(
        &mut self,
        incoming: Incoming,
        unique: &UniqueChecks,
        settings: &WorkerSettings,
        now: Instant,
    ) -> Result<(), WorkerError> {
        let Incoming {
            partition,
            offset,
            size,
            outcome,
            key,
            republish,
        } = incoming;
        self.forget_revoked();
        if self.abandoned.contains(&partition) {
            return Err(WorkerError::PositionPastAbandonedFlush { partition });
        }
        if self.recovered.insert(partition) {
            self.recover(partition).await?;
        }
        if let Some(replay) = self.replays.get(&partition) {
            let (start, end) = (replay.start, replay.end);
            if !self.buffers.contains_key(&partition) && offset != start {
                self.abandon_replay(partition).await;
            } else if offset > end {
                // The range ended on an offset that holds no event (a gap).
                self.flush(partition).await?;
            }
        }
        self.metrics.events_in.inc();
        let buffer = self
            .buffers
            .entry(partition)
            .or_insert_with(|| PartitionBuffer::new(offset, &self.schema, unique.emptied()));
        let accepted = buffer.push(&self.topic, (partition, offset), size, outcome, now);
        if let (true, Some(stream), Some(event)) = (accepted, &self.stream, republish) {
            stream.publish(key.as_deref(), &event);
            self.metrics.stream_published.inc();
        }
        let replay_end = self.replays.get(&partition).map(|r| r.end);
        if replay_end.map_or(
            buffer.events >= settings.max_events || buffer.bytes >= settings.max_bytes,
            |end| offset >= end,
        ) {
            self.flush(partition).await?;
        }
        Ok(())
    }

    fn committed(&self, partition: i32) -> Result<Option<i64>, WorkerError> {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        let committed = tokio::task::block_in_place(|| {
            self.consumer
                .committed_offsets(list, Duration::from_secs(30))
        })
        .map_err(|source| WorkerError::Commit {
            partition,
            offset: -1,
            source,
        })?;
        Ok(committed
            .find_partition(&self.topic, partition)
            .and_then(|p| match p.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }))
    }

    async fn flush(&mut self, partition: i32) -> Result<(), WorkerError> {
        let Some(buffer) = self.buffers.remove(&partition) else {
            return Ok(());
        };
        let started = Instant::now();
        let flush: Flush = buffer.into_flush(&self.plan, partition)?;
        let marker_key = flush_marker_key(&self.group, partition);
        let keys: Vec<String> = flush.objects.iter().map(|o| o.key.clone()).collect();
        // Objects of the replayed flush this one does not rewrite (another plan, or events
        // gone) are removed; the marker lists them until then.
        let stale: Vec<String> = self
            .replays
            .remove(&partition)
            .map(|r| r.keys.into_iter().filter(|k| !keys.contains(k)).collect())
            .unwrap_or_default();
        let marker = FlushMarker {
            start: flush.start,
            end: flush.end,
            keys: keys.iter().chain(&stale).cloned().collect(),
        };
        let retry = self.on_retry();
        self.store.put_marker(&marker_key, &marker, &retry).await;
        let mut written = 0u64;
        for object in flush.objects {
            written += object.body.len() as u64;
            self.store
                .put(&object.key, object.body, object.content_type, &retry)
                .await;
        }
        for key in &stale {
            self.store.delete(key, &retry).await;
        }
        if let Some(stream) = &self.stream {
            tokio::task::block_in_place(|| stream.drain(Duration::from_secs(120)))?;
        }
        if !self.commit(partition, flush.end + 1).await? {
            drop(retry);
            // The marker stays: whoever owns the partition next replays it as the same
            // flush from the committed offset.
            tracing::warn!(
                partition,
                start = flush.start,
                end = flush.end,
                "partition moved to another worker before the flush committed; left to its next owner"
            );
            self.metrics.flushes_abandoned.inc();
            self.abandoned.insert(partition);
            return Ok(());
        }
        self.store.delete(&marker_key, &retry).await;
        drop(retry);

        self.metrics.rows_written.inc_by(flush.rows as u64);
        self.metrics.events_rejected.inc_by(flush.rejected as u64);
        self.metrics.bytes_written.inc_by(written);
        self.metrics.flushes.inc();
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .event_to_object_seconds
            .observe(flush.opened_at.elapsed().as_secs_f64());
        if let Some(t) = flush.newest_event_micros {
            let newest = self.newest_committed_micros.map_or(t, |n| n.max(t));
            self.newest_committed_micros = Some(newest);
            self.metrics
                .newest_committed_event_seconds
                .set(newest.div_euclid(1_000_000));
        }
        tracing::debug!(
            partition,
            start = flush.start,
            end = flush.end,
            rows = flush.rows,
            rejected = flush.rejected,
            "flushed"
        );
        Ok(())
    }

    /// Commits `next` as the partition's position; retries while Kafka is unavailable.
    /// `false` when the partition moved to another member (the commit cannot succeed).
    async fn commit(&self, partition: i32, next: i64) -> Result<bool, WorkerError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.topic, partition, Offset::Offset(next))
            .map_err(|source| WorkerError::Commit {
                partition,
                offset: next,
                source,
            })?;
        let mut delay = Duration::from_millis(100);
        loop {
            let result =
                tokio::task::block_in_place(|| self.consumer.commit(&list, CommitMode::Sync));
            match result {
                Ok(()) => return Ok(true),
                Err(e) if lost_partition(&e) => {
                    tracing::warn!(partition, error = %e, "offset commit refused: the group rebalanced");
                    return Ok(false);
                }
                Err(e) => {
                    tracing::warn!(partition, error = %e, retry_in = ?delay, "offset commit failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Drops what the worker holds for partitions a rebalance revoked: their unflushed
    /// events are not committed, so the next owner consumes them again from the committed
    /// offset (after removing the objects of any flush marker left).
    fn forget_revoked(&mut self) {
        for partition in self.consumer.context().take_revoked() {
            if let Some(buffer) = self.buffers.remove(&partition) {
                tracing::info!(
                    partition,
                    events = buffer.events,
                    "partition revoked; its unflushed events are left to the next owner"
                );
            }
            self.recovered.remove(&partition);
            self.abandoned.remove(&partition);
            self.replays.remove(&partition);
            self.metrics.partitions_revoked.inc();
        }
    }

    fn due(&self, settings: &WorkerSettings) -> Vec<i32> {
        self.buffers
            .iter()
            .filter(|(p, b)| {
                // A replay closes at its end offset; only a stall of its events ends it early.
                (b.opened_at.elapsed() >= settings.flush_interval && !self.replays.contains_key(p))
                    || b.last_event_at.elapsed() >= settings.idle_timeout
            })
            .map(|(p, _)| *p)
            .collect()
    }

    fn update_freshness(&self) {
        if let Some(t) = self.newest_committed_micros {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            self.metrics
                .freshness_seconds
                .set((now - t).max(0) / 1_000_000);
        }
    }
}

/// The partition moved to another member: committing again cannot succeed.
fn lost_partition(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::FencedInstanceId
        )
    )
}

/// Runs the worker until `shutdown` resolves; then flushes, commits and returns.
pub async fn run(
    settings: WorkerSettings,
    metrics: Arc<Metrics>,
    ready: tokio::sync::watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), WorkerError> {
    let plan = settings.plan.clone();
    let Some(kafka) = plan.source.kafka.clone() else {
        return Err(WorkerError::NotStreaming {
            product: plan.product.clone(),
        });
    };
    let decoder =
        Decoder::new(&plan, &settings.masking_key)?.with_max_event_bytes(settings.max_event_bytes);
    // The plan's `unique` checks, validated once; each buffer gets an empty copy.
    let unique = UniqueChecks::new(&plan)?;
    let consumer: WorkerConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("group.id", &kafka.consumer_group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // Eager rebalancing: every rebalance revokes all partitions and a reassigned one
        // resumes from its committed offset, which abandoned flushes rely on.
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("statistics.interval.ms", "5000")
        .set("max.poll.interval.ms", "900000")
        .set("fetch.max.bytes", "52428800")
        .set("queued.min.messages", "200000")
        .create_with_context(WorkerContext {
            metrics: metrics.clone(),
            revoked: Mutex::new(Vec::new()),
            revocation_pending: AtomicBool::new(false),
        })
        .map_err(|source| WorkerError::Consumer {
            topic: kafka.topic.clone(),
            source,
        })?;
    consumer
        .subscribe(&[&kafka.topic])
        .map_err(|source| WorkerError::Consumer {
            topic: kafka.topic.clone(),
            source,
        })?;
    let stream = match &plan.stream_topic {
        Some(topic) => Some(StreamOutput::new(&kafka.bootstrap_servers, topic)?),
        None => None,
    };
    let ready = Arc::new(ready);
    let store = Store::new(
        s3_client(&settings.s3),
        plan.bucket.clone(),
        plan.encryption.as_deref(),
        plan.kms_key_id.clone(),
        ready.clone(),
    );
    let mut worker = Worker {
        schema: arrow_schema(decoder.fields()),
        topic: kafka.topic.clone(),
        group: kafka.consumer_group.clone(),
        plan,
        store,
        consumer,
        metrics: metrics.clone(),
        buffers: HashMap::new(),
        recovered: HashSet::new(),
        abandoned: HashSet::new(),
        replays: HashMap::new(),
        newest_committed_micros: None,
        fields: decoder.fields().to_vec(),
        stream,
    };
    ready.send_replace(true);
    tracing::info!(topic = %worker.topic, group = %worker.group, bucket = %worker.plan.bucket, "ingesting");
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = tick.tick() => {
                worker.forget_revoked();
                for partition in worker.due(&settings) {
                    worker.flush(partition).await?;
                }
                worker.update_freshness();
            }
            message = worker.consumer.recv() => {
                // One wake-up, then whatever is already queued (bounded, so ticks and
                // shutdown are still seen): the per-message cost of select! is paid once.
                let now = Instant::now();
                let first = match message {
                    Ok(m) => Some(take(&m, &decoder, &worker)),
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error; continuing");
                        None
                    }
                };
                if let Some(incoming) = first {
                    worker.accept(incoming, &unique, &settings, now).await?;
                }
                for _ in 1..DRAIN_BATCH {
                    let incoming = match worker.consumer.recv().now_or_never() {
                        Some(Ok(m)) => take(&m, &decoder, &worker),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "Kafka consumer error; continuing");
                            continue;
                        }
                        None => break,
                    };
                    worker.accept(incoming, &unique, &settings, now).await?;
                }
            }
        }
    }
    tracing::info!("shutting down: flushing");
    worker.forget_revoked();
    // A replay cut short would not rewrite the same objects; its marker stays for the
    // next start.
    let partitions: Vec<i32> = worker
        .buffers
        .keys()
        .copied()
        .filter(|p| !worker.replays.contains_key(p))
        .collect();
    for partition in partitions {
        worker.flush(partition).await?;
    }
    Ok(())
}
