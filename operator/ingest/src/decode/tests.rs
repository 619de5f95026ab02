use super::*;
use meshplane_api::ingest_plan::{KafkaPlan, PlanSource};
use meshplane_api::{Classification, QualityCheck};

fn field(
    name: &str,
    field_type: FieldType,
    nullable: bool,
    masking: MaskingStrategy,
) -> PlannedField {
    PlannedField {
        name: name.into(),
        field_type,
        nullable,
        classification: Classification::Internal,
        pii: masking != MaskingStrategy::None,
        masking,
    }
}

pub(crate) fn orders_plan() -> IngestPlan {
    IngestPlan {
        product: "orders/orders".into(),
        source: PlanSource {
            kafka: Some(KafkaPlan {
                bootstrap_servers: "k:9092".into(),
                topic: "orders.events".into(),
                consumer_group: "g".into(),
                change_events: false,
            }),
            ..PlanSource::default()
        },
        bucket: "b".into(),
        table_prefix: "table".into(),
        dead_letter_prefix: "_rejected".into(),
        fields: vec![
            field("order_id", FieldType::String, false, MaskingStrategy::None),
            field(
                "customer_email",
                FieldType::String,
                true,
                MaskingStrategy::Hash,
            ),
            field("card", FieldType::String, true, MaskingStrategy::Partial),
            field(
                "shipping_address",
                FieldType::String,
                true,
                MaskingStrategy::Redact,
            ),
            field(
                "order_total",
                FieldType::Double,
                true,
                MaskingStrategy::None,
            ),
            field("items", FieldType::Int, true, MaskingStrategy::None),
            field("paid", FieldType::Boolean, true, MaskingStrategy::None),
            field(
                "event_time",
                FieldType::Timestamp,
                false,
                MaskingStrategy::None,
            ),
        ],
        partition_field: Some("event_time".into()),
        granularity: Granularity::Hour,
        flush_interval_seconds: 60,
        quality: vec![QualityCheck {
            name: "total-not-negative".into(),
            check_type: QualityCheckType::Range,
            field: Some("order_total".into()),
            min: Some(0.0),
            max: None,
            pattern: None,
            values: vec![],
        }],
        stream_topic: None,
        encryption: Some("AES256".into()),
        kms_key_id: None,
        iceberg: meshplane_api::ingest_plan::IcebergTablePlan {
            namespace: "orders".into(),
            name: "orders".into(),
            location: "s3://b/table".into(),
            properties: Default::default(),
        },
        retention_seconds: None,
    }
}

fn decoder() -> Decoder {
    Decoder::new(&orders_plan(), b"test-key").unwrap()
}

#[test]
fn a_valid_event_becomes_a_masked_row_in_its_hour() {
    let row = decoder()
        .decode(
            br#"{"order_id":"o-1","customer_email":"ada@example.com","card":"4111111111111111",
            "shipping_address":"1 Main St","order_total":12.5,"items":3,"paid":true,
            "event_time":"2026-11-27T09:15:00Z","extra":"ignored"}"#,
        )
        .unwrap();
    assert_eq!(row.partition.path(), "dt=2026-11-27/hr=09");
    assert_eq!(row.cells[0], Cell::Text("o-1".into()));
    let Cell::Text(email) = &row.cells[1] else {
        panic!()
    };
    assert_eq!(email.len(), 64);
    assert!(!email.contains("ada"));
    assert_eq!(row.cells[2], Cell::Text("************1111".into()));
    assert_eq!(row.cells[3], Cell::Text(crate::mask::REDACTED.into()));
    assert_eq!(row.cells[4], Cell::Double(12.5));
    assert_eq!(row.cells[5], Cell::Int(3));
    assert_eq!(row.cells[6], Cell::Bool(true));
    assert_eq!(row.event_time_micros, Some(1_795_770_900_000_000));
}

#[test]
fn epoch_milliseconds_and_nulls_are_accepted_where_declared() {
    let row = decoder()
        .decode(br#"{"order_id":"o-2","customer_email":null,"event_time":1795770900000}"#)
        .unwrap();
    assert_eq!(row.cells[1], Cell::Null);
    assert_eq!(row.partition.path(), "dt=2026-11-27/hr=09");
}

#[test]
fn every_kind_of_bad_event_is_rejected_with_a_reason_naming_the_problem() {
    let d = decoder();
    let cases: Vec<(&[u8], &str)> = vec![
        (b"{not json", "not valid JSON"),
        (b"[1,2]", "not a JSON object"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (
            br#"{"event_time":"2026-11-27T09:00:00Z"}"#,
            "field `order_id` is required but absent",
        ),
        (
            br#"{"order_id":null,"event_time":"2026-11-27T09:00:00Z"}"#,
            "field `order_id` is required but null",
        ),
        (
            br#"{"order_id":7,"event_time":"2026-11-27T09:00:00Z"}"#,
            "field `order_id`: expected string, got number",
        ),
        (
            br#"{"order_id":"o","event_time":"yesterday"}"#,
            "field `event_time`: expected timestamp (RFC 3339), got \"yesterday\"",
        ),
        (
            br#"{"order_id":"o","items":99999999999,"event_time":"2026-11-27T09:00:00Z"}"#,
            "out of range",
        ),
        (
            br#"{"order_id":"o","order_total":-1,"event_time":"2026-11-27T09:00:00Z"}"#,
            "quality check `total-not-negative` failed on field `order_total`",
        ),
    ];
    for (event, reason) in cases {
        let error = d.decode(event).unwrap_err().to_string();
        assert!(
            error.contains(reason),
            "{error:?} should contain {reason:?}"
        );
    }
    let big = vec![b' '; DEFAULT_MAX_EVENT_BYTES + 1];
    assert!(matches!(d.decode(&big), Err(Rejection::TooLarge { .. })));
}

#[test]
fn change_events_take_the_row_after_the_change() {
    let mut plan = orders_plan();
    plan.source.kafka.as_mut().unwrap().change_events = true;
    let d = Decoder::new(&plan, b"k").unwrap();
    let row = d
        .decode(br#"{"payload":{"before":null,"after":{"order_id":"o-9","event_time":"2026-11-27T10:00:00Z"},"op":"c"}}"#)
        .unwrap();
    assert_eq!(row.cells[0], Cell::Text("o-9".into()));
    assert_eq!(
        d.decode(br#"{"payload":{"after":null,"op":"d"}}"#),
        Err(Rejection::NoChangeRow)
    );
}

#[test]
fn a_plan_with_a_bad_check_is_refused_with_the_check_named() {
    let mut plan = orders_plan();
    plan.quality.push(QualityCheck {
        name: "bad".into(),
        check_type: QualityCheckType::Pattern,
        field: Some("order_id".into()),
        min: None,
        max: None,
        pattern: Some("(".into()),
        values: vec![],
    });
    let error = Decoder::new(&plan, b"k").err().unwrap().to_string();
    assert!(error.contains("quality check `bad`"), "{error}");
}

#[test]
fn rows_round_trip_through_parquet_with_the_declared_schema() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let d = decoder();
    let rows: Vec<Vec<Cell>> = (0..100)
        .map(|i| {
            d.decode(format!(r#"{{"order_id":"o-{i}","customer_email":"u{i}@example.com","event_time":"2026-11-27T09:00:00Z"}}"#).as_bytes())
                .unwrap()
                .cells
        })
        .collect();
    let schema = crate::table::arrow_schema(d.fields());
    let file = crate::table::write_parquet(&schema, &rows).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file)).unwrap();
    assert_eq!(reader.schema().as_ref(), schema.as_ref());
    let batches: Vec<_> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
}

#[test]
fn calendar_dates_of_partitions_match_a_calendar_library() {
    for days in [
        -719_468i64,
        -1,
        0,
        59,
        365,
        10_957,
        20_784,
        20_819,
        2_932_896,
    ] {
        let expected = jiff::civil::date(1970, 1, 1)
            .checked_add(jiff::Span::new().days(days))
            .unwrap();
        let (y, m, d) = civil_from_days(days);
        assert_eq!(
            format!("{y:04}-{m:02}-{d:02}"),
            expected.to_string(),
            "day {days}"
        );
    }
}

#[test]
fn escaped_strings_duplicate_keys_and_nested_values_decode_like_json() {
    let row = decoder()
        .decode(br#"{"order_id":"o-\u0031\n","nested":{"a":[1,{"b":2}]},"order_id":"o-2","event_time":"2026-11-27T09:00:00Z"}"#)
        .unwrap();
    assert_eq!(row.cells[0], Cell::Text("o-2".into()));
    let err = decoder()
        .decode(br#"{"order_id":{"x":1},"event_time":"2026-11-27T09:00:00Z"}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `order_id`: expected string, got object"
    );
    assert!(matches!(
        decoder().decode(br#"{"order_id":"o"} trailing"#),
        Err(Rejection::InvalidJson { .. })
    ));
    assert_eq!(decoder().decode(b"\"text\""), Err(Rejection::NotAnObject));
}
