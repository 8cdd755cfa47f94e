//! test-kit: what mock-server's integration tests and contract-tests share, written once: the
//! `schemas/` set ([`schemas`]), the check of a response against Belvo's OpenAPI document
//! ([`openapi`]) and a local webhook receiver ([`receiver`]).

pub mod openapi;
pub mod receiver;
pub mod schemas;

pub use openapi::{CONTRACT_PATHS, Spec, assert_spec, contract_extract};
pub use receiver::{Behaviour, Received, Receiver};
pub use schemas::{Class, Kind, SchemaSet, Violation, assert_schema};
