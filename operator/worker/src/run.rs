//! The consume → decode → buffer → write files → commit loop.

use crate::buffer::{FileNaming, Flush, ObjectKind, PartitionBuffer};
use crate::metrics::Metrics;
use crate::store::{Store, UNHEALTHY_AFTER};
use crate::stream_out::{StreamOutput, StreamOutputError};
use futures::FutureExt;
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, Struct};
use iceberg::table::Table;
use iceberg::Catalog;
use meshplane_api::ingest_plan::{IngestPlan, PlannedField};
use meshplane_api::Granularity;
use meshplane_effects::iceberg::{
    self as tables, committed_offsets, Append, AppendOutcome, CatalogSettings, TableCatalogError,
};
use meshplane_effects::s3::{client as s3_client, S3Settings};
use meshplane_ingest::commit::{Admission, PartitionProgress, SeekTarget, Settlement};
use meshplane_ingest::json_row::to_json;
use meshplane_ingest::table::TableSchema;
use meshplane_ingest::unique::UniqueChecks;
use meshplane_ingest::{
    arrow_schema_with_field_ids, Decoder, DecoderError, Rejection, Row, TableError, TimePartition,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
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
    /// S3 refuses the worker's credentials.
    #[error(transparent)]
    Credentials(#[from] crate::store::CredentialsRefused),
    /// A data file could not be described to the table.
    #[error("failed to describe data file {key} to the Iceberg table: {reason}")]
    DataFile {
        /// Object key.
        key: String,
        /// Cause.
        reason: String,
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
    /// The Iceberg catalog of the product's table.
    pub catalog: CatalogSettings,
    /// Commit at the latest this long after an event arrived (the product's update interval).
    pub flush_interval: Duration,
    /// Commit when no event arrived for this long.
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

/// Files written since the last commit of a partition, and what they hold.
#[derive(Default)]
struct Pending {
    files: Vec<DataFile>,
    rows: usize,
    rejected: usize,
    bytes: u64,
    newest_event_micros: Option<i64>,
}

struct Worker {
    plan: IngestPlan,
    topic: String,
    schema: TableSchema,
    naming: FileNaming,
    partition_spec_id: i32,
    store: Store,
    catalog: Arc<dyn Catalog>,
    consumer: WorkerConsumer,
    metrics: Arc<Metrics>,
    ready: Arc<tokio::sync::watch::Sender<bool>>,
    buffers: HashMap<i32, PartitionBuffer>,
    /// Each assigned partition's place in the commit protocol.
    progress: HashMap<i32, PartitionProgress>,
    /// Files written and not yet committed, per partition.
    pending: HashMap<i32, Pending>,
    /// When the oldest event not yet committed arrived.
    uncommitted_since: Option<Instant>,
    /// When the last event arrived.
    last_event_at: Option<Instant>,
    newest_committed_micros: Option<i64>,
    stream: Option<StreamOutput>,
    fields: Vec<PlannedField>,
}

/// Waits out a failing catalog: capped backoff, and readiness withdrawn after
/// [`UNHEALTHY_AFTER`] of failures (given back on the next success).
struct CatalogBackoff {
    delay: Duration,
    failing_since: Option<Instant>,
}

impl CatalogBackoff {
    fn new() -> Self {
        CatalogBackoff {
            delay: Duration::from_millis(100),
            failing_since: None,
        }
    }

    async fn failed(
        &mut self,
        ready: &tokio::sync::watch::Sender<bool>,
        error: &TableCatalogError,
    ) {
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= UNHEALTHY_AFTER && *ready.borrow() {
            tracing::error!(%error, "the Iceberg catalog keeps failing: not ready until it answers");
            ready.send_replace(false);
        }
        tracing::warn!(%error, retry_in = ?self.delay, "Iceberg catalog request failed; retrying");
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(10));
    }

    fn succeeded(&self, ready: &tokio::sync::watch::Sender<bool>) {
        if self.failing_since.is_some() && !*ready.borrow() {
            tracing::info!("the Iceberg catalog answers again: ready");
            ready.send_replace(true);
        }
    }
}

/// The Iceberg partition value of a time partition.
fn partition_value(partition: TimePartition, granularity: Granularity) -> Struct {
    match partition {
        TimePartition::Unpartitioned => Struct::empty(),
        TimePartition::Null => Struct::from_iter([None]),
        TimePartition::Hour(hours) => {
            Struct::from_iter([Some(Literal::int(i32::try_from(hours).unwrap_or(i32::MAX)))])
        }
        TimePartition::Day(days) => {
            let days = i32::try_from(days).unwrap_or(i32::MAX);
            Struct::from_iter([Some(match granularity {
                Granularity::Day => Literal::date(days),
                Granularity::Hour => Literal::int(days),
            })])
        }
    }
}

impl Worker {
    fn on_retry(&self) -> impl Fn() + Sync + '_ {
        || self.metrics.s3_retries.inc()
    }

    /// Loads the table, waiting out catalog failures.
    async fn table(&self) -> Table {
        let mut backoff = CatalogBackoff::new();
        loop {
            match tables::load(&*self.catalog, &self.plan.iceberg).await {
                Ok(table) => {
                    backoff.succeeded(&self.ready);
                    return table;
                }
                Err(e) => {
                    self.metrics.catalog_retries.inc();
                    backoff.failed(&self.ready, &e).await;
                }
            }
        }
    }

    /// A newly assigned partition resumes from the table's next offset.
    async fn resume(&mut self, partition: i32) {
        let table = self.table().await;
        let next = committed_offsets(&table, &self.topic)
            .get(&partition)
            .copied();
        tracing::info!(partition, table_next = ?next, "partition assigned; resuming from the table's offset");
        self.progress
            .insert(partition, PartitionProgress::resume(next));
    }

    fn seek(&mut self, partition: i32, target: SeekTarget) {
        let offset = match target {
            SeekTarget::Beginning => Offset::Beginning,
            SeekTarget::Offset(o) => Offset::Offset(o),
        };
        let result = tokio::task::block_in_place(|| {
            self.consumer
                .seek(&self.topic, partition, offset, Duration::from_secs(10))
        });
        if let Err(e) = result {
            // Asked again with the partition's next message.
            tracing::warn!(partition, ?target, error = %e, "seek failed; retrying with the next message");
            let base = self.progress.get(&partition).and_then(|p| p.base());
            self.progress
                .insert(partition, PartitionProgress::resume(base));
        }
    }

    /// Buffers one decoded event (resuming its partition first if new), republishes it
    /// when there is a stream output, and writes the buffer's files at a size limit.
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
        if !self.progress.contains_key(&partition) {
            self.resume(partition).await;
        }
        let Some(progress) = self.progress.get_mut(&partition) else {
            return Ok(());
        };
        match progress.admit(offset) {
            Admission::Accept => {}
            Admission::AcceptAfterGap { missing_from } => {
                let missing = offset - missing_from;
                tracing::warn!(
                    partition,
                    missing_from,
                    resumed_at = offset,
                    "offsets the table expected are gone from the topic (retention); continuing at the first kept one"
                );
                self.metrics
                    .offsets_missing
                    .inc_by(u64::try_from(missing).unwrap_or(0));
            }
            Admission::Skip => return Ok(()),
            Admission::Seek(target) => {
                self.seek(partition, target);
                return Ok(());
            }
        }
        self.metrics.events_in.inc();
        self.uncommitted_since.get_or_insert(now);
        self.last_event_at = Some(now);
        let buffer = self
            .buffers
            .entry(partition)
            .or_insert_with(|| PartitionBuffer::new(offset, &self.schema, unique.emptied()));
        let accepted = buffer.push(&self.topic, (partition, offset), size, outcome, now);
        if let (true, Some(stream), Some(event)) = (accepted, &self.stream, republish) {
            stream.publish(key.as_deref(), &event, now);
            self.metrics.stream_published.inc();
        }
        if buffer.events >= settings.max_events || buffer.bytes >= settings.max_bytes {
            self.write_files(partition).await?;
        }
        Ok(())
    }

    /// Writes a partition's buffer as data files (and dead letters); they join the
    /// partition's pending files, committed with the next commit.
    async fn write_files(&mut self, partition: i32) -> Result<(), WorkerError> {
        let Some(buffer) = self.buffers.remove(&partition) else {
            return Ok(());
        };
        let started = Instant::now();
        let flush: Flush = buffer.into_flush(&self.naming, partition)?;
        let retry = self.on_retry();
        let mut files = Vec::new();
        let mut written = 0u64;
        for object in flush.objects {
            let size = object.body.len() as u64;
            written += size;
            self.store
                .put(&object.key, object.body, object.content_type, &retry)
                .await;
            if let ObjectKind::Data { partition, rows } = object.kind {
                let file = DataFileBuilder::default()
                    .content(DataContentType::Data)
                    .file_path(format!("s3://{}/{}", self.plan.bucket, object.key))
                    .file_format(DataFileFormat::Parquet)
                    .partition(partition_value(partition, self.plan.granularity))
                    .partition_spec_id(self.partition_spec_id)
                    .record_count(rows as u64)
                    .file_size_in_bytes(size)
                    .build()
                    .map_err(|e| WorkerError::DataFile {
                        key: object.key.clone(),
                        reason: e.to_string(),
                    })?;
                files.push(file);
            }
        }
        drop(retry);
        let pending = self.pending.entry(partition).or_default();
        pending.files.extend(files);
        pending.rows += flush.rows;
        pending.rejected += flush.rejected;
        pending.bytes += written;
        if let Some(t) = flush.newest_event_micros {
            pending.newest_event_micros = Some(pending.newest_event_micros.map_or(t, |n| n.max(t)));
        }
        if let Some(progress) = self.progress.get_mut(&partition) {
            progress.written();
        }
        self.metrics.flushes.inc();
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            partition,
            start = flush.start,
            end = flush.end,
            rows = flush.rows,
            "files written"
        );
        Ok(())
    }

    /// Writes every buffer and commits every partition's files in one Iceberg commit, with
    /// the fence of the commit protocol; waits out catalog and S3 failures.
    async fn commit(&mut self) -> Result<(), WorkerError> {
        let partitions: Vec<i32> = self.buffers.keys().copied().collect();
        for partition in partitions {
            self.write_files(partition).await?;
        }
        let candidates: Vec<i32> = self
            .progress
            .iter()
            .filter(|(_, p)| p.proposed_next().is_some())
            .map(|(p, _)| *p)
            .collect();
        if candidates.is_empty() {
            self.uncommitted_since = None;
            return Ok(());
        }
        if let Some(stream) = &self.stream {
            tokio::task::block_in_place(|| stream.drain(Duration::from_secs(120)))?;
        }
        let mut backoff = CatalogBackoff::new();
        loop {
            let table = self.table().await;
            let offsets = committed_offsets(&table, &self.topic);
            let mut append = Append {
                topic: self.topic.clone(),
                files: Vec::new(),
                offsets: BTreeMap::new(),
            };
            for partition in &candidates {
                let Some(progress) = self.progress.get_mut(partition) else {
                    continue;
                };
                match progress.settle(offsets.get(partition).copied()) {
                    Settlement::Commit { expected, next } => {
                        append.offsets.insert(*partition, (expected, next));
                        if let Some(pending) = self.pending.get(partition) {
                            append.files.extend(pending.files.iter().cloned());
                        }
                    }
                    Settlement::AlreadyCommitted { next } => {
                        tracing::info!(partition, next, "the table already holds these offsets (an earlier commit went through)");
                        progress.committed(next);
                        self.pending.remove(partition);
                    }
                    Settlement::Fenced { table_next } => {
                        tracing::warn!(partition, ?table_next, "another worker committed this partition first; its files are dropped and it resumes from the table");
                        progress.fenced(table_next);
                        self.pending.remove(partition);
                        self.buffers.remove(partition);
                        self.metrics.flushes_abandoned.inc();
                    }
                    Settlement::Nothing => {}
                }
            }
            if append.offsets.is_empty() {
                break;
            }
            let committed: Vec<(i32, i64)> = append
                .offsets
                .iter()
                .map(|(p, (_, next))| (*p, *next))
                .collect();
            match tables::append(&*self.catalog, &table, append).await {
                Ok(AppendOutcome::Committed {
                    snapshot_id,
                    metadata_location,
                }) => {
                    backoff.succeeded(&self.ready);
                    if let (Some(snapshot_id), Some(metadata_location)) =
                        (snapshot_id, metadata_location)
                    {
                        *self
                            .metrics
                            .last_snapshot
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) =
                            Some(meshplane_effects::product_status::CommittedSnapshot {
                                snapshot_id,
                                metadata_location,
                            });
                    }
                    self.committed(&committed, snapshot_id);
                    break;
                }
                Ok(AppendOutcome::Stale { offsets }) => {
                    tracing::info!(
                        ?offsets,
                        "the table's offsets moved during the commit; deciding again"
                    );
                }
                Err(e) => {
                    self.metrics.catalog_retries.inc();
                    backoff.failed(&self.ready, &e).await;
                }
            }
        }
        if self.buffers.is_empty() {
            self.uncommitted_since = None;
        }
        Ok(())
    }

    /// After a commit: progress, metrics, and the consumer group's offsets (for lag only;
    /// a failure there loses nothing).
    fn committed(&mut self, committed: &[(i32, i64)], snapshot_id: Option<i64>) {
        let mut list = TopicPartitionList::new();
        for (partition, next) in committed {
            if let Some(progress) = self.progress.get_mut(partition) {
                progress.committed(*next);
            }
            let _ = list.add_partition_offset(&self.topic, *partition, Offset::Offset(*next));
            let Some(pending) = self.pending.remove(partition) else {
                continue;
            };
            self.metrics.rows_written.inc_by(pending.rows as u64);
            self.metrics.events_rejected.inc_by(pending.rejected as u64);
            self.metrics.bytes_written.inc_by(pending.bytes);
            if let Some(t) = pending.newest_event_micros {
                let newest = self.newest_committed_micros.map_or(t, |n| n.max(t));
                self.newest_committed_micros = Some(newest);
                self.metrics
                    .newest_committed_event_seconds
                    .set(newest.div_euclid(1_000_000));
            }
        }
        self.metrics.commits.inc();
        if let Some(since) = self.uncommitted_since {
            self.metrics
                .event_to_object_seconds
                .observe(since.elapsed().as_secs_f64());
        }
        tracing::debug!(?committed, ?snapshot_id, "committed");
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            tracing::debug!(error = %e, "consumer group offsets not committed (lag only)");
        }
    }

    /// Drops what the worker holds for partitions a rebalance revoked: their uncommitted
    /// events are left to the next owner, which resumes from the table.
    fn forget_revoked(&mut self) {
        for partition in self.consumer.context().take_revoked() {
            let buffered = self.buffers.remove(&partition).map_or(0, |b| b.events);
            let written = self.pending.remove(&partition).map_or(0, |p| p.files.len());
            tracing::info!(
                partition,
                buffered,
                written_files = written,
                "partition revoked; its uncommitted events are left to the next owner"
            );
            self.progress.remove(&partition);
            self.metrics.partitions_revoked.inc();
        }
    }

    fn commit_due(&self, settings: &WorkerSettings) -> bool {
        self.uncommitted_since
            .is_some_and(|t| t.elapsed() >= settings.flush_interval)
            || self
                .last_event_at
                .is_some_and(|t| t.elapsed() >= settings.idle_timeout)
                && (!self.buffers.is_empty() || !self.pending.is_empty())
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

/// Connects to the catalog and loads the product's table (created by the controller),
/// waiting until both are there and the table has a column for every field.
async fn open_table(
    settings: &WorkerSettings,
    metrics: &Metrics,
    ready: &tokio::sync::watch::Sender<bool>,
) -> (Arc<dyn Catalog>, Table, Vec<i32>) {
    let plan = &settings.plan;
    let mut backoff = CatalogBackoff::new();
    loop {
        let attempt = async {
            let catalog = tables::connect(&settings.catalog).await?;
            let table = tables::load(&*catalog, &plan.iceberg).await?;
            let schema = table.metadata().current_schema().clone();
            let ids = plan
                .fields
                .iter()
                .map(|f| {
                    schema
                        .field_by_name(&f.name)
                        .map(|field| field.id)
                        .ok_or_else(|| TableCatalogError::Incompatible {
                            table: format!("{}.{}", plan.iceberg.namespace, plan.iceberg.name),
                            field: f.name.clone(),
                            reason: "the table has no such column yet (the controller adds it)"
                                .into(),
                        })
                })
                .collect::<Result<Vec<i32>, _>>()?;
            let partitioned = !table
                .metadata()
                .default_partition_spec()
                .fields()
                .is_empty();
            if partitioned != plan.partition_field.is_some() {
                return Err(TableCatalogError::Incompatible {
                    table: format!("{}.{}", plan.iceberg.namespace, plan.iceberg.name),
                    field: plan.partition_field.clone().unwrap_or_default(),
                    reason: "the table's partition spec differs from the product's partitioning (changing it is not supported yet)".into(),
                });
            }
            Ok::<_, TableCatalogError>((catalog, table, ids))
        };
        match attempt.await {
            Ok(opened) => return opened,
            Err(e) => {
                metrics.catalog_retries.inc();
                backoff.failed(ready, &e).await;
            }
        }
    }
}

/// Digest of what shapes a data file's bytes besides its events: the plan and the masking
/// key. Part of every file name, so a differently configured writer never overwrites a
/// committed file under the same name.
fn writer_digest(plan: &IngestPlan, masking_key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(plan).unwrap_or_default());
    hasher.update(masking_key);
    hasher
        .finalize()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs the worker until `shutdown` resolves; then writes, commits and returns.
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
    let ready = Arc::new(ready);
    let store = Store::new(
        s3_client(&settings.s3),
        plan.bucket.clone(),
        plan.encryption.as_deref(),
        plan.kms_key_id.clone(),
        ready.clone(),
    );
    // Refused credentials end the worker here, so that its pod's crash loop says why;
    // an outage is waited out. Before joining the consumer group, so a crash loop
    // does not rebalance the workers that run.
    store.check_access(&plan.table_prefix).await?;
    let consumer: WorkerConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("group.id", &kafka.consumer_group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // Eager rebalancing: every rebalance revokes all partitions; a reassigned one
        // resumes from the table's offset.
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
        Some(topic) => Some(StreamOutput::new(
            &kafka.bootstrap_servers,
            topic,
            metrics.stream_publish_seconds.clone(),
        )?),
        None => None,
    };
    // Not ready until the table is there: the controller creates it.
    let (catalog, table, field_ids) = open_table(&settings, &metrics, &ready).await;
    let naming = FileNaming {
        topic: kafka.topic.clone(),
        data_prefix: format!("{}/data", plan.table_prefix),
        dead_letter_prefix: plan.dead_letter_prefix.clone(),
        partition_name: plan
            .partition_field
            .as_deref()
            .map(|f| tables::partition_name(f, plan.granularity)),
        writer: writer_digest(&plan, &settings.masking_key),
    };
    let mut worker = Worker {
        schema: arrow_schema_with_field_ids(decoder.fields(), &field_ids),
        topic: kafka.topic.clone(),
        naming,
        partition_spec_id: table.metadata().default_partition_spec_id(),
        plan,
        store,
        catalog,
        consumer,
        metrics: metrics.clone(),
        ready: ready.clone(),
        buffers: HashMap::new(),
        progress: HashMap::new(),
        pending: HashMap::new(),
        uncommitted_since: None,
        last_event_at: None,
        newest_committed_micros: None,
        fields: decoder.fields().to_vec(),
        stream,
    };
    ready.send_replace(true);
    tracing::info!(topic = %worker.topic, table = %format!("{}.{}", worker.plan.iceberg.namespace, worker.plan.iceberg.name), bucket = %worker.plan.bucket, "ingesting");
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = tick.tick() => {
                worker.forget_revoked();
                if worker.commit_due(&settings) {
                    worker.commit().await?;
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
    tracing::info!("shutting down: committing");
    worker.forget_revoked();
    worker.commit().await
}
