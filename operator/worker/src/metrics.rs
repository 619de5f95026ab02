//! The worker's Prometheus metrics.

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};

/// Counters, gauges and histograms of one worker.
pub struct Metrics {
    registry: Registry,
    /// The table's snapshot after this worker's last commit (reported into the product's
    /// status with the freshness).
    pub last_snapshot:
        std::sync::Mutex<Option<meshplane_effects::product_status::CommittedSnapshot>>,
    /// Events consumed.
    pub events_in: IntCounter,
    /// Rows written to the table.
    pub rows_written: IntCounter,
    /// Events sent to the dead letter.
    pub events_rejected: IntCounter,
    /// Bytes of objects written.
    pub bytes_written: IntCounter,
    /// Buffers written as data files (not yet committed).
    pub flushes: IntCounter,
    /// Iceberg commits.
    pub commits: IntCounter,
    /// Iceberg catalog requests retried (outage, conflict).
    pub catalog_retries: IntCounter,
    /// Offsets the table expected that were gone from the topic when a partition resumed.
    pub offsets_missing: IntCounter,
    /// Masked events republished to the output topic.
    pub stream_published: IntCounter,
    /// S3 requests retried.
    pub s3_retries: IntCounter,
    /// Source partitions assigned to this worker now.
    pub partitions_assigned: IntGauge,
    /// Partitions revoked by a rebalance (their unflushed events are left to the next owner).
    pub partitions_revoked: IntCounter,
    /// Partitions whose files were dropped because another worker committed their offsets
    /// first (the fence of the commit protocol).
    pub flushes_abandoned: IntCounter,
    /// Messages behind the partitions' high watermarks (librdkafka statistics).
    pub consumer_lag: IntGauge,
    /// Seconds since the newest committed event happened (event time).
    pub freshness_seconds: IntGauge,
    /// Event time of the newest committed event, in seconds since the Unix epoch (0 before the first).
    pub newest_committed_event_seconds: IntGauge,
    /// Time to encode and write a buffer's files.
    pub flush_seconds: Histogram,
    /// From the arrival of the oldest uncommitted event to its commit into the table.
    pub event_to_object_seconds: Histogram,
    /// The stream output port's latency: from an event's consumption to the output
    /// topic's acknowledgement of its masked copy.
    pub stream_publish_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let seconds = vec![
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 6.0, 7.0, 8.0, 10.0, 30.0, 60.0, 300.0,
        ];
        Metrics {
            last_snapshot: std::sync::Mutex::new(None),
            events_in: counter("meshplane_ingest_events_in_total", "Events consumed from the source topic."),
            rows_written: counter("meshplane_ingest_rows_written_total", "Rows written to the table."),
            events_rejected: counter("meshplane_ingest_events_rejected_total", "Events written to the dead letter."),
            bytes_written: counter("meshplane_ingest_bytes_written_total", "Bytes of objects written to S3."),
            flushes: counter("meshplane_ingest_flushes_total", "Buffers written as data files (committed with the next commit)."),
            commits: counter("meshplane_ingest_commits_total", "Iceberg commits (data files appended, offsets set)."),
            catalog_retries: counter("meshplane_ingest_catalog_retries_total", "Iceberg catalog requests retried."),
            offsets_missing: counter("meshplane_ingest_offsets_missing_total", "Offsets the table expected that were gone from the topic (retention) when a partition resumed."),
            stream_published: counter("meshplane_ingest_stream_events_published_total", "Masked events republished to the output topic."),
            s3_retries: counter("meshplane_ingest_s3_retries_total", "S3 requests retried."),
            partitions_assigned: gauge("meshplane_ingest_partitions_assigned", "Source partitions assigned to this worker by the consumer group."),
            partitions_revoked: counter("meshplane_ingest_partitions_revoked_total", "Source partitions revoked by consumer group rebalances."),
            flushes_abandoned: counter("meshplane_ingest_flushes_abandoned_total", "Partitions whose written files were dropped because another worker committed their offsets first."),
            consumer_lag: gauge("meshplane_ingest_consumer_lag", "Messages behind the source partitions' high watermarks."),
            freshness_seconds: gauge("meshplane_ingest_freshness_seconds", "Age of the newest committed event (event time)."),
            newest_committed_event_seconds: gauge("meshplane_ingest_newest_committed_event_timestamp_seconds", "Event time of the newest committed event (Unix seconds)."),
            flush_seconds: histogram("meshplane_ingest_flush_duration_seconds", "Time to encode and write a buffer's data files.", seconds.clone()),
            event_to_object_seconds: histogram("meshplane_ingest_event_to_object_seconds", "From an event's arrival to its commit into the table (oldest event of each commit).", seconds),
            stream_publish_seconds: histogram("meshplane_ingest_stream_publish_latency_seconds", "From an event's consumption to the output topic's acknowledgement of its masked copy (the stream output port).", vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            registry,
        }
    }
}

impl Metrics {
    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
