//! The catalog: every DataProduct made discoverable — search, product pages, lineage,
//! impact analysis, OpenLineage and ODCS exports.
//!
//! Pure: the controller feeds it products and policies from its watch caches and serves
//! its answers over HTTP; nothing here talks to a cluster, a clock or the network. Each
//! product is run through the governance engine when it arrives, so the catalog shows
//! the same classification, masking and compliance tags that admission enforces.
#![forbid(unsafe_code)]

mod catalog;
mod entry;
pub mod impact;
pub mod lineage;
pub mod odcs;
pub mod openlineage;
pub mod query;
pub mod search;
mod text;
pub mod views;

pub use catalog::{Catalog, PolicyUpdateError};
pub use entry::{Entry, ProductId};
pub use query::QueryError;
