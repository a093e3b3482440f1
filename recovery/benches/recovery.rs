//! Seal, open, diff and restore at 10, 100 and 1,000 channels.
//!
//! The channels are generated from the fixture's three real channel entries,
//! each copied under new Core Lightning ids (peer id + a fresh dbid), so every
//! entry is one vls-core wrote; only the count is synthetic.
//!
//!   cargo bench -p vls-recovery --bench recovery

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use vls_recovery::backup::{self, BackupInfo, OpenKey, SealKey};
use vls_recovery::diff::Diff;
use vls_recovery::restore::{self, Plan};
use vls_recovery::store::{self, RawStore};
use vls_recovery::{Network, Seed, Snapshot};

const SIZES: [usize; 3] = [10, 100, 1_000];

fn fixture_store() -> (RawStore, Seed) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vlsd-regtest-3ch/regtest");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(src.join("redb"), dir.path().join("redb")).expect("copy");
    let raw = store::read(&dir.path().join("redb")).expect("read fixture");
    let seed = Seed::from_file(&src.join("node.seed")).expect("seed");
    (raw, seed)
}

fn with_channels(base: &RawStore, n: usize) -> Snapshot {
    let templates: Vec<(String, store::Versioned)> = base
        .entries
        .iter()
        .filter(|(k, v)| k.starts_with("channel/") && !v.value.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut raw = base.clone();
    raw.entries.retain(|k, _| !k.starts_with("channel/"));
    for i in 0..n {
        let (key, value) = &templates[i % templates.len()];
        let (prefix, id0) = key.rsplit_once('/').expect("channel key");
        let peer = &id0[..66];
        let dbid = hex::encode((1_000 + i as u64).to_le_bytes());
        raw.entries
            .insert(format!("{prefix}/{peer}{dbid}"), value.clone());
    }
    Snapshot::from_store(&raw, Network::Regtest, "bench").expect("snapshot")
}

fn info(s: &Snapshot) -> BackupInfo {
    BackupInfo {
        node_id: s.node_id.clone(),
        network: s.network.clone(),
        source: "bench".into(),
        includes_seed: false,
        created_at_ms: 1,
    }
}

fn benches(c: &mut Criterion) {
    let (base, seed) = fixture_store();
    let id = age::x25519::Identity::generate();
    let seal_key = SealKey::Recipients(vec![id.to_public()]);
    let open_key = OpenKey::Identities(vec![id]);

    let mut g = c.benchmark_group("recovery");
    g.sample_size(20);
    for n in SIZES {
        let snap = with_channels(&base, n);
        let sealed = backup::seal(
            &info(&snap),
            &backup::snapshot_payload(&snap, &Default::default(), None).expect("payload"),
            &seal_key,
        )
        .expect("seal");
        g.bench_with_input(BenchmarkId::new("seal_x25519", n), &snap, |b, s| {
            b.iter(|| {
                let p = backup::snapshot_payload(s, &Default::default(), None).expect("payload");
                black_box(backup::seal(&info(s), &p, &seal_key).expect("seal"))
            })
        });
        g.bench_with_input(BenchmarkId::new("open_x25519", n), &sealed, |b, f| {
            b.iter(|| {
                black_box(backup::open_snapshot(f, &open_key, "bench".as_ref()).expect("open"))
            })
        });
        let other = snap.clone();
        g.bench_with_input(BenchmarkId::new("diff", n), &snap, |b, s| {
            b.iter(|| black_box(Diff::between(s, &other).expect("diff")))
        });
        g.bench_with_input(BenchmarkId::new("restore", n), &snap, |b, s| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    restore::restore(Plan {
                        snapshot: s,
                        seed: &seed,
                        datadir: dir.path().to_path_buf(),
                        against: vec![],
                        force: false,
                        from: "bench".into(),
                    })
                    .expect("restore");
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(recovery, benches);
criterion_main!(recovery);
