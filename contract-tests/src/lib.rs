//! contract-tests: one Belvo employment flow, validated against `schemas/`, run against the
//! in-process fake or a real Belvo URL. This crate is a placeholder-free skeleton: its flow
//! arrives with the contract-tests issue; today it only exposes the fake it will drive.

pub use mock_server::MockServer;
