//! Decode + check + mask of arbitrary bytes against the Orders plan: never a panic, and a
//! row's personal-data columns never hold a string of the input's PII fields verbatim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshplane_api::ingest_plan::IngestPlan;
use meshplane_ingest::{Cell, Decoder};
use std::sync::LazyLock;

static DECODER: LazyLock<(Decoder, Vec<usize>)> = LazyLock::new(|| {
    let plan: IngestPlan =
        serde_json::from_str(include_str!("../../operator/ingest/tests/fixtures/orders-plan.json"))
            .expect("fixture plan");
    let decoder = Decoder::new(&plan, b"fuzz-key").expect("decoder");
    let pii = decoder.fields().iter().enumerate().filter(|(_, f)| f.pii).map(|(i, _)| i).collect();
    (decoder, pii)
});

fuzz_target!(|bytes: &[u8]| {
    let (decoder, pii) = &*DECODER;
    let Ok(row) = decoder.decode(bytes) else { return };
    // What the event said for each PII field, if it parsed as an object.
    let Ok(serde_json::Value::Object(event)) = serde_json::from_slice::<serde_json::Value>(bytes) else { return };
    for &i in pii {
        let name = &decoder.fields()[i].name;
        let (Some(serde_json::Value::String(raw)), Cell::Text(masked)) = (event.get(name.as_str()), &row.cells[i]) else {
            continue;
        };
        // Hashing yields 64 hex characters; short raw values may occur in it by chance.
        if raw.len() >= 8 {
            assert!(!masked.contains(raw.as_str()), "{name}: raw value survived masking");
        }
    }
});
