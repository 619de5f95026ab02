//! Property-based fuzzing of decode + mask: arbitrary bytes never panic the decoder, and
//! whatever a generated event holds, a personal-data value never survives into the row.

use meshplane_api::ingest_plan::IngestPlan;
use meshplane_ingest::{Cell, Decoder};
use proptest::prelude::*;

fn plan() -> IngestPlan {
    serde_json::from_str(include_str!("fixtures/orders-plan.json")).expect("fixture plan")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_are_a_row_or_a_rejection(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let decoder = Decoder::new(&plan(), b"k").unwrap();
        let _ = decoder.decode(&bytes);
    }

    #[test]
    fn mutilated_events_are_a_row_or_a_rejection(cut in 0usize..300, flip in 0usize..300, byte in any::<u8>()) {
        let decoder = Decoder::new(&plan(), b"k").unwrap();
        let mut event = br#"{"order_id":"o-1","customer_id":"c-1","customer_email":"ada@example.com","shipping_address":"1 Main St","order_total":12.5,"currency":"EUR","status":"paid","event_time":"2026-11-27T09:15:00Z"}"#.to_vec();
        let flip = flip % event.len();
        event[flip] = byte;
        event.truncate(cut.max(1).min(event.len()));
        let _ = decoder.decode(&event);
    }

    #[test]
    fn personal_data_never_reaches_a_row(email in "[a-z]{1,12}@[a-z]{1,8}\\.(com|org)", address in "[A-Za-z0-9 ,.]{1,40}") {
        let decoder = Decoder::new(&plan(), b"k").unwrap();
        let event = serde_json::json!({
            "order_id": "o-1", "customer_id": "c-1", "customer_email": email, "shipping_address": address,
            "status": "paid", "event_time": "2026-11-27T09:15:00Z"
        });
        let row = decoder.decode(event.to_string().as_bytes()).unwrap();
        for (i, field) in decoder.fields().iter().enumerate() {
            if field.pii {
                let Cell::Text(masked) = &row.cells[i] else { panic!("{} is not text", field.name) };
                prop_assert_ne!(masked, &email);
                prop_assert!(!masked.contains(&email));
                prop_assert_ne!(masked, &address);
            }
        }
    }
}
