//! Change data capture: the Debezium connector of a CDC source.

use crate::external::cdc_topic;
use crate::meta::child_meta;
use crate::names;
use crate::settings::{PlatformSettings, TopicMode};
use meshplane_api::DataProduct;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The Strimzi KafkaConnector running Debezium's PostgreSQL connector for the product.
pub fn kafka_connector(
    product: &DataProduct,
    settings: &PlatformSettings,
    cdc: &meshplane_api::CdcSource,
) -> Value {
    let name = product.metadata.name.clone().unwrap_or_default();
    let namespace = product.metadata.namespace.as_deref().unwrap_or("default");
    let mut meta = child_meta(product, names::child(&name, "cdc"), "cdc");
    let cluster = match &settings.topic_mode {
        TopicMode::Strimzi { cluster, .. } => cluster.clone(),
        TopicMode::Direct => "connect".to_string(),
    };
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert("strimzi.io/cluster".into(), format!("{cluster}-connect"));
    let secret = &cdc.connection_secret_ref.name;
    let file = |key: &str| format!("${{secrets:{namespace}/{secret}:{key}}}");
    json!({
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaConnector",
        "metadata": meta,
        "spec": {
            "class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasksMax": 1,
            "autoRestart": { "enabled": true },
            "state": "running",
            "config": {
                "database.hostname": file("host"),
                "database.port": file("port"),
                "database.dbname": file("dbname"),
                "database.user": file("user"),
                "database.password": file("password"),
                "plugin.name": "pgoutput",
                "slot.name": names::bounded(&format!("meshplane_{namespace}_{name}"), 63).replace('-', "_"),
                "publication.name": names::bounded(&format!("meshplane_{namespace}_{name}"), 63).replace('-', "_"),
                "topic.prefix": format!("meshplane.{namespace}.{name}"),
                "table.include.list": cdc.tables.join(","),
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false",
                "transforms": "route",
                "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
                "transforms.route.regex": ".*",
                "transforms.route.replacement": cdc_topic(product),
            }
        }
    })
}
