use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use proptest::prelude::*;

use super::*;

fn info(ms: u64) -> BackupInfo {
    BackupInfo {
        node_id: "02".to_string() + &"ab".repeat(32),
        network: "regtest".to_string(),
        source: "test".to_string(),
        includes_seed: false,
        created_at_ms: ms,
    }
}

fn keypair() -> (age::x25519::Identity, age::x25519::Recipient) {
    let id = age::x25519::Identity::generate();
    let r = id.to_public();
    (id, r)
}

#[test]
fn seal_open_round_trip_with_two_recipients() {
    let (a, ra) = keypair();
    let (b, rb) = keypair();
    let sealed = seal(&info(1), b"{\"x\":1}", &SealKey::Recipients(vec![ra, rb])).expect("seal");
    for id in [a, b] {
        let o = open(&sealed, &OpenKey::Identities(vec![id]), Path::new("f")).expect("open");
        assert_eq!(o.payload, b"{\"x\":1}");
        assert_eq!(o.header.node_id, info(1).node_id);
    }
}

#[test]
fn wrong_key_is_backup_key() {
    let (_, r) = keypair();
    let (other, _) = keypair();
    let sealed = seal(&info(1), b"{}", &SealKey::Recipients(vec![r])).expect("seal");
    let e = open(
        &sealed,
        &OpenKey::Identities(vec![other]),
        Path::new("b.age"),
    )
    .expect_err("wrong key");
    assert_eq!(e.code(), "E-BACKUP-KEY", "{e}");
}

#[test]
fn every_single_bit_flip_is_corrupt() {
    let (id, r) = keypair();
    let sealed = seal(
        &info(7),
        b"{\"channels\":[]}",
        &SealKey::Recipients(vec![r]),
    )
    .expect("seal");
    let key = OpenKey::Identities(vec![id]);
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut bad = sealed.clone();
            bad[byte] ^= 1 << bit;
            match open(&bad, &key, Path::new("f")) {
                Ok(_) => panic!("flip at byte {byte} bit {bit} was accepted"),
                Err(e) => {
                    assert_eq!(e.code(), "E-BACKUP-CORRUPT", "byte {byte} bit {bit}: {e}")
                }
            }
        }
    }
}

#[test]
fn truncation_is_corrupt() {
    let (id, r) = keypair();
    let sealed = seal(
        &info(7),
        &vec![b'x'; 100_000],
        &SealKey::Recipients(vec![r]),
    )
    .expect("seal");
    let key = OpenKey::Identities(vec![id]);
    for cut in [0, 10, sealed.len() / 2, sealed.len() - 1] {
        let e = open(&sealed[..cut], &key, Path::new("f")).expect_err("truncated");
        assert_eq!(e.code(), "E-BACKUP-CORRUPT", "cut {cut}: {e}");
    }
}

#[test]
fn files_are_0600_never_overwritten_and_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, r) = keypair();
    let key = SealKey::Recipients(vec![r]);
    let mut paths = Vec::new();
    for ms in 1..=5 {
        paths.push(create(dir.path(), &info(ms), b"{}", &key, Some(3)).expect("create"));
    }
    let mode = std::fs::metadata(&paths[4])
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(list(dir.path()).expect("list"), paths[2..].to_vec());
    let e = create(dir.path(), &info(5), b"{}", &key, None).expect_err("same name");
    assert_eq!(e.code(), "E-EXISTS");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn round_trip_any_payload(payload in proptest::collection::vec(any::<u8>(), 0..4096), ms in any::<u64>()) {
        let (id, r) = keypair();
        let sealed = seal(&info(ms), &payload, &SealKey::Recipients(vec![r])).expect("seal");
        let o = open(&sealed, &OpenKey::Identities(vec![id]), Path::new("f")).expect("open");
        prop_assert_eq!(o.payload, payload);
        prop_assert_eq!(o.header.created_at_ms, ms);
    }
}
