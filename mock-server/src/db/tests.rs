//! Unit tests of `db`.

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("belvo-mock-durable-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

#[test]
fn rows_survive_reopening() {
    let d = dir("reopen");
    let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
    db.commit(&[
        Write::Put(Table::Links, "t".into(), "k".into(), "{}".into()),
        Write::Meta("clock", "5".into()),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    drop(db);
    let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(db.load(Table::Links).map(|r| r.len()).ok(), Some(1));
    assert_eq!(db.meta("clock").ok().flatten().as_deref(), Some("5"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_corrupt_file_is_refused_and_left_untouched() {
    let d = dir("corrupt");
    std::fs::create_dir_all(&d).ok();
    let file = d.join(FILE_NAME);
    let garbage = b"this is not a database at all, just some bytes".repeat(200);
    std::fs::write(&file, &garbage).ok();
    let error = Durable::open(&d)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("left untouched"), "{error}");
    assert_eq!(std::fs::read(&file).ok(), Some(garbage));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let d = dir("newer");
    std::fs::create_dir_all(&d).ok();
    let file = d.join(FILE_NAME);
    if let Ok(conn) = Connection::open(&file) {
        conn.pragma_update(None, "user_version", 99).ok();
    }
    let before = std::fs::read(&file).ok();
    let error = Durable::open(&d)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("newer belvo-mock (schema 99"), "{error}");
    assert_eq!(std::fs::read(&file).ok(), before);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_second_opener_of_the_folder_is_refused_with_the_holders_pid() {
    let d = dir("locked");
    let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
    let error = Durable::open(&d)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains(&format!(
            "in use by another belvo-mock (pid {})",
            std::process::id()
        )),
        "{error}"
    );
    drop(db);
    assert!(Durable::open(&d).is_ok(), "the lock goes with its holder");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn an_injected_fault_fails_the_whole_commit() {
    let d = dir("fault");
    let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
    db.fail_writes(true);
    let put = Write::Put(Table::Links, "t".into(), "k".into(), "{}".into());
    assert!(db.commit(std::slice::from_ref(&put)).is_err());
    db.fail_writes(false);
    assert_eq!(db.load(Table::Links).map(|r| r.len()).ok(), Some(0));
    assert!(db.commit(&[put]).is_ok());
    assert_eq!(db.load(Table::Links).map(|r| r.len()).ok(), Some(1));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_version_1_file_is_migrated_with_its_data_and_sessions_in_the_link_rows() {
    let d = dir("migrate");
    std::fs::create_dir_all(&d).ok();
    if let Ok(conn) = Connection::open(d.join(FILE_NAME)) {
        conn.execute_batch(&format!(
            "{}
             INSERT INTO links VALUES ('t', 'L', '{{\"id\": \"L\", \"seq\": 7}}');
             INSERT INTO link_data VALUES ('t', 'L', '{{\"owners\": null, \"employments\": []}}');
             INSERT INTO sessions VALUES ('t', 's1', '{{\"link\": \"L\", \"expires_at\": \"2026-01-01T00:00:00Z\", \"challenge\": \"12345\"}}');
             INSERT INTO sessions VALUES ('t', 's2', '{{\"link\": \"other\", \"expires_at\": \"2026-01-01T00:00:00Z\", \"challenge\": \"1\"}}');
             PRAGMA user_version = 1;",
            MIGRATIONS[0].1
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
    let rows = db.load(Table::Links).unwrap_or_default();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, "00000000000000000007");
    let body: serde_json::Value = serde_json::from_str(&rows[0].2).unwrap_or_default();
    assert_eq!(
        body,
        serde_json::json!({
            "id": "L",
            "seq": 7,
            "data": {"owners": null, "employments": []},
            "sessions": [{"id": "s1", "expires_at": "2026-01-01T00:00:00Z", "challenge": "12345"}]
        })
    );
    drop(db);
    let conn = Connection::open(d.join(FILE_NAME)).unwrap_or_else(|e| panic!("{e}"));
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(version, SCHEMA_VERSION);
    std::fs::remove_dir_all(&d).ok();
}
