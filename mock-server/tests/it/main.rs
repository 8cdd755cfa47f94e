//! Integration tests: the fake on port 0, spoken to over real HTTP; every body validated
//! against `schemas/`.

mod cli;
mod commit;
mod control;
mod dashboard;
mod data;
mod durable;
mod hosted_widget;
mod hostile;
mod institutions;
mod isolation;
mod limits;
mod link_management;
mod links;
mod properties;
mod protocol;
mod realism;
mod recurrent;
mod soak;
mod support;
mod webhooks;
mod widget;
