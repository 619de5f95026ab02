//! The query port: PostgreSQL's wire protocol over DataFusion, reading the products'
//! Iceberg tables. A client authenticates with a Kubernetes token as its password; it sees
//! only the products it holds a grant on (AccessRequests), and of each only the granted
//! columns. Statements are read-only, bounded by a timeout, a row limit and a memory
//! pool, audit-logged and timed per product.
//!
//! Pure: [`grants`], [`statement`], [`authorize`], [`encode`], [`parameters`], [`audit`]. Effects: the
//! table cache (catalog and object store), the engine and the wire [`server`].

pub mod audit;
pub mod authorize;
pub mod encode;
pub mod engine;
pub mod grants;
pub mod metrics;
pub mod parameters;
pub mod server;
pub mod statement;
pub mod table;
pub mod watch;
