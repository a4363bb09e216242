//! A daily backup job: every night a database dump (`.sql.gz`) goes into dg, the last few days
//! are kept, older dumps are deleted, and a restore is checked.
//!
//! ```sh
//! cargo run -p dg-cli --example daily_backup
//! ```
//!
//! Ten simulated days in a temporary local store (no network). Each day's dump changes about 1%
//! of its rows; gzip hides that from a plain binary diff, dg sees through it (native format).

use std::io::Write;

use dg::{Body, Client, ListObjects};
use sha2::{Digest, Sha256};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// Days of dumps kept.
const KEEP: usize = 5;

/// One day's dump of a `users` table, gzip-compressed like `pg_dump | gzip`.
fn dump(day: u32) -> Result<Vec<u8>> {
    let mut sql = String::from("CREATE TABLE users (id int, name text, visits int);\n");
    for id in 0..20_000u32 {
        // about 1% of the rows change each day
        let visits = if id % 100 == day % 100 {
            day * 3
        } else {
            id % 50
        };
        sql.push_str(&format!(
            "INSERT INTO users VALUES ({id}, 'user-{:05}', {visits});\n",
            (id * 7919) % 100_000
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(sql.as_bytes())?;
    Ok(gz.finish()?)
}

fn main() -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<()> {
    let store = tempfile::tempdir()?;
    let client = Client::builder().local_dir(store.path()).build()?;
    client.create_bucket("backups").await?;

    let mut latest = Vec::new();
    for day in 1..=10u32 {
        let key = format!("db/users-2025-03-{day:02}.sql.gz");
        let data = dump(day)?;
        let summary = client.put_object("backups", &key, data.clone()).await?;
        println!(
            "day {day:>2}: {key} {} bytes -> {} stored{}",
            summary.original_size,
            summary.stored_size,
            if summary.is_delta { " (delta)" } else { "" }
        );
        latest = data;

        // retention: keep the newest KEEP dumps (keys sort by date)
        let listed = client
            .list_objects(&ListObjects::new("backups").prefix("db/"))
            .await?;
        let expired: Vec<String> = listed
            .objects
            .iter()
            .rev()
            .skip(KEEP)
            .map(|o| o.key.clone())
            .collect();
        if !expired.is_empty() {
            let deleted = client.delete_objects("backups", &expired).await;
            if let Some((key, e)) = deleted.errors.first() {
                return Err(format!("deleting {key}: {e}").into());
            }
            println!("        expired: {}", expired.join(", "));
        }
    }

    // what is kept, and what it costs (the reference stays while deltas need it)
    let listed = client
        .list_objects(&ListObjects::new("backups").prefix("db/"))
        .await?;
    assert_eq!(listed.objects.len(), KEEP);
    let stats = client
        .stats("backups", "db/", dg::StatsOptions::default())
        .await?;
    println!(
        "kept {} dumps; stored {} bytes in all (reference included)",
        listed.objects.len(),
        stats.stored_size
    );

    // restore drill: stream the newest dump into a hasher, no temp copy
    let newest = &listed.objects.last().ok_or("no backups")?.key;
    let (head, hasher) = client
        .get_object_to("backups", newest, HashWriter(Sha256::new()))
        .await?;
    let restored = hex(&hasher.0.finalize());
    assert_eq!(restored, hex(&Sha256::digest(&latest)));
    assert_eq!(head.sha256.as_deref(), Some(restored.as_str()));
    println!("restore of {newest}: {} bytes, sha256 matches", head.size);

    // and one from a file, as an operator would
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), dump(11)?)?;
    let summary = client
        .put_object("backups", "db/manual.sql.gz", Body::from_file(file.path()))
        .await?;
    assert!(summary.is_delta);
    assert!(client.verify("backups", "db/").await?.is_ok());
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that only hashes.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_to_the_end() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(super::run()).unwrap();
    }
}
