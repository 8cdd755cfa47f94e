//! Data benchmarks: generating people from (seed, CPF), and serving a link's employments list
//! from memory (rendering stored records, no regeneration).
//!
//! `cargo bench -p mock-server --bench data`

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mock_server::config::{Config, MfaMode};
use mock_server::fixtures;
use mock_server::{App, Login, Params};
use serde_json::{Map, Value, json};

fn generation(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
    let cpfs = fixtures::cpfs_for(1, 10_000);
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one person", |b| {
        b.iter(|| fixtures::generate(1, black_box(&cpfs[0]), today, 60))
    });
    group.throughput(Throughput::Elements(cpfs.len() as u64));
    group.sample_size(10);
    group.bench_function("10,000 people", |b| {
        b.iter(|| {
            for cpf in &cpfs {
                black_box(fixtures::generate(1, cpf, today, 60));
            }
        })
    });
    group.finish();
}

fn serving(c: &mut Criterion) {
    let config = Config {
        mfa: MfaMode::Never,
        ..Config::default()
    };
    let Ok(app) = App::build(&config) else {
        return;
    };
    let store = app.store.clone();
    let Some(tenant) = store.authenticate(&config.keys[0].id, &config.keys[0].password) else {
        return;
    };
    let body: Map<String, Value> = match json!({
        "institution": "inss_br_employment", "username": "529.982.247-25", "password": "secret-123"
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let created = app.change_blocking(move |tx| {
        tx.store()
            .create_link(tx, tenant, &body, uuid::Uuid::new_v4())
    });
    let Ok(Login::Done(link)) = created else {
        return;
    };
    let params = Params::parse(&format!("link={}", link.id));
    c.bench_function("list employments of one link (from memory)", |b| {
        b.iter(|| store.list_employments(tenant, black_box(&params)))
    });
    c.bench_function("list owners of one link (from memory)", |b| {
        b.iter(|| store.list_owners(tenant, black_box(&params)))
    });
}

criterion_group!(benches, generation, serving);
criterion_main!(benches);
