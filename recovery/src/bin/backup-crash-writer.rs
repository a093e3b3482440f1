//! Test helper for the crash test (`tests/backup_crash.rs`): writes sealed
//! backups into a directory as fast as it can, keeping the newest 3, until it
//! is killed. Arguments: `<dir> <age recipient>`.

use std::time::{SystemTime, UNIX_EPOCH};

use vls_recovery::backup::{self, BackupInfo, SealKey};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(recipient)) = (args.next(), args.next()) else {
        eprintln!("usage: backup-crash-writer <dir> <age recipient>");
        return std::process::ExitCode::from(2);
    };
    let key = match backup::parse_recipient(&recipient) {
        Ok(r) => SealKey::Recipients(vec![r]),
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let payload: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut last = 0u64;
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        last = now.max(last + 1);
        let info = BackupInfo {
            node_id: "02".to_string() + &"ef".repeat(32),
            network: "regtest".to_string(),
            source: "crash-writer".to_string(),
            includes_seed: false,
            created_at_ms: last,
        };
        if let Err(e) = backup::create(std::path::Path::new(&dir), &info, &payload, &key, Some(3)) {
            eprintln!("{e}");
            return std::process::ExitCode::from(1);
        }
    }
}
