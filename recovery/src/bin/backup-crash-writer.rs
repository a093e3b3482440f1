//! Test helper for the crash test (`tests/backup_crash.rs`): seals the
//! snapshot of a (stopped) vlsd datadir into backups in a directory as fast as
//! it can, keeping the newest 3, until it is killed. It prints `wrote` after
//! each backup, so the test can kill it once it is writing rather than at a
//! time guessed for this machine's speed.
//! Arguments: `<dir> <age recipient> <vlsd datadir>`.

use std::io::Write;

use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, DirSink, SealKey};
use vls_recovery::{Network, Snapshot, VlsdDatadir};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(recipient), Some(datadir)) = (args.next(), args.next(), args.next())
    else {
        eprintln!("usage: backup-crash-writer <dir> <age recipient> <vlsd datadir>");
        return std::process::ExitCode::from(2);
    };
    let key = match backup::parse_recipient(&recipient) {
        Ok(r) => SealKey::Recipients(vec![r]),
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let snapshot = match Snapshot::load(&VlsdDatadir::new(datadir, Network::Regtest)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let sink = DirSink {
        dir: dir.into(),
        key,
        keep: Some(3),
        seed: None,
        source: "crash-writer".into(),
    };
    let mut out = std::io::stdout().lock();
    loop {
        if let Err(e) = sink.write_snapshot(&snapshot, &HtlcArchive::default()) {
            eprintln!("{e}");
            return std::process::ExitCode::from(1);
        }
        // The test reads only the first line; a closed pipe ends nothing.
        let _ = writeln!(out, "wrote").and_then(|()| out.flush());
    }
}
