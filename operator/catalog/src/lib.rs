//! The catalog: every DataProduct made discoverable — search, product pages, lineage,
//! impact analysis, the compliance view, OpenLineage and ODCS exports — and the HTTP API
//! and UI routes that serve them.
//!
//! The core is pure: the controller feeds a [`Catalog`] products and policies from its
//! watch caches; [`query`] and [`proposal`] turn request parameters and bodies into typed
//! questions; the catalog answers with the [`views`] (and the views of [`search`],
//! [`impact`], [`lineage`] and [`compliance`]), which clients read back with the same
//! types. Nothing there talks to a cluster, a clock or the network. Each product is run
//! through the governance engine when it arrives, so the catalog shows the same
//! classification, masking and compliance tags that admission enforces.
//!
//! [`server`] is the only module that knows HTTP: an axum router whose handlers extract
//! the request, call the query layer and the catalog, and encode the answer. The binary
//! binds it to a port.
#![forbid(unsafe_code)]

mod catalog;
pub mod compliance;
mod entry;
pub mod impact;
pub mod lineage;
pub mod odcs;
pub mod openlineage;
pub mod proposal;
pub mod query;
pub mod search;
pub mod server;
mod text;
pub mod trino_rules;
pub mod views;

pub use catalog::{Catalog, PolicyUpdateError};
pub use entry::{Entry, ProductId};
pub use query::QueryError;
pub use server::{router, CatalogState, Ui};
