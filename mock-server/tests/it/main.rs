//! Integration tests: the fake on port 0, spoken to over real HTTP; every body validated
//! against `schemas/`.

mod cli;
mod control;
mod data;
mod institutions;
mod links;
mod protocol;
mod realism;
mod support;
mod webhooks;
