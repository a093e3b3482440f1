//! Each fault kind really happens: observed from inside the containers,
//! not taken on the harness's word, and each heal really undoes it.

use std::time::Duration;

use harness::fault::{Corruption, Fault, Injector, LinkDirection};
use harness::Cluster;

const PROBE: &str = "/data/probe.bin";

/// Whether `from` can open a TCP connection to bitcoind's RPC port within 3 s.
async fn can_connect(cluster: &Cluster, from: &str) -> anyhow::Result<bool> {
    let out = cluster
        .container(from)?
        .exec(&[
            "timeout",
            "3",
            "bash",
            "-c",
            "exec 3<>/dev/tcp/bitcoind/18443",
        ])
        .await?;
    Ok(out.exit_code == 0)
}

/// How many of `n` TCP connects from `from` to bitcoind's RPC port
/// succeed, each given 5 s (room for a retransmitted SYN).
async fn connect_probes(cluster: &Cluster, from: &str, n: u32) -> anyhow::Result<u32> {
    let script = format!(
        "ok=0; for i in $(seq {n}); do timeout 5 bash -c 'exec 3<>/dev/tcp/bitcoind/18443' && ok=$((ok+1)); done; echo $ok"
    );
    let out = cluster
        .container(from)?
        .exec(&["bash", "-c", &script])
        .await?;
    Ok(out.stdout.trim().parse()?)
}

/// Packets the statistic (loss) rules in `from`'s namespace have dropped.
async fn dropped_packets(cluster: &Cluster, from: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    for chain in ["INPUT", "OUTPUT"] {
        let out = cluster
            .container(from)?
            .exec(&["iptables", "-L", chain, "-v", "-x", "-n"])
            .await?;
        total += out
            .stdout
            .lines()
            .filter(|l| l.contains("statistic"))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

async fn clock_offset(cluster: &Cluster, name: &str) -> anyhow::Result<i64> {
    let out = cluster.container(name)?.exec(&["date", "+%s"]).await?;
    let theirs: i64 = out.stdout.trim().parse()?;
    let ours = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    Ok(theirs - ours)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_real_and_heal() -> anyhow::Result<()> {
    scenarios::init();
    let cluster = Cluster::builder()
        .bitcoind()
        .signer("alice")
        .signer("carol")
        .with_faketime("vlsd-alice")
        .with_disk_mb("vlsd-carol", 8)
        .start()
        .await?;
    let mut inj = Injector::new(7);
    let alice = "vlsd-alice";

    // Partition: the TCP connect times out; after heal it works.
    assert!(can_connect(&cluster, alice).await?, "baseline connect");
    inj.apply(
        &cluster,
        &Fault::Partition {
            target: alice.into(),
            peer: "bitcoind".into(),
            direction: LinkDirection::Both,
        },
    )
    .await?;
    assert!(
        !can_connect(&cluster, alice).await?,
        "connect during partition"
    );
    inj.heal(&cluster, alice).await?;
    assert!(can_connect(&cluster, alice).await?, "connect after heal");

    // Packet loss: packets really are dropped (the kernel's own count of
    // what the loss rules dropped, after traffic), and none after heal.
    inj.apply(
        &cluster,
        &Fault::PacketLoss {
            target: alice.into(),
            every: 4,
        },
    )
    .await?;
    let probes = 12;
    let answered = connect_probes(&cluster, alice, probes).await?;
    let dropped = dropped_packets(&cluster, alice).await?;
    println!("packet loss: {answered} of {probes} connects answered, {dropped} packets dropped");
    // Each answered connect is at least 5 packets through the rules (SYN,
    // ACK, FIN out; SYN-ACK, FIN in), so dropping every 4th drops well over
    // one per two probes; TCP retransmits, so most still connect.
    assert!(
        dropped > 0 && dropped >= u64::from(answered) / 2,
        "{dropped} packets dropped for {answered} answered connects"
    );
    assert!(answered > 0, "no connect got through a 25% loss");
    inj.heal(&cluster, alice).await?;
    assert_eq!(
        dropped_packets(&cluster, alice).await?,
        0,
        "loss rules left after heal"
    );
    assert_eq!(connect_probes(&cluster, alice, probes).await?, probes);

    // Clock skew: the container's wall clock moves, and comes back.
    let before = clock_offset(&cluster, alice).await?;
    assert!(before.abs() <= 2, "offset before skew {before}");
    inj.apply(
        &cluster,
        &Fault::ClockSkew {
            target: alice.into(),
            offset_secs: 3600,
        },
    )
    .await?;
    let skewed = harness::wait::until("clock skewed", Duration::from_secs(10), || async {
        let o = clock_offset(&cluster, alice)
            .await
            .map_err(|e| e.to_string())?;
        if (o - 3600).abs() <= 2 {
            Ok(o)
        } else {
            Err(format!("offset {o}"))
        }
    })
    .await?;
    println!("skewed clock offset: {skewed}s");
    inj.heal(&cluster, alice).await?;
    harness::wait::until("clock back", Duration::from_secs(10), || async {
        let o = clock_offset(&cluster, alice)
            .await
            .map_err(|e| e.to_string())?;
        if o.abs() <= 2 {
            Ok(())
        } else {
            Err(format!("offset {o}"))
        }
    })
    .await?;

    // Disk full: a write fails with ENOSPC, and succeeds after heal.
    let carol = cluster.container("vlsd-carol")?;
    inj.apply(
        &cluster,
        &Fault::DiskFull {
            target: "vlsd-carol".into(),
        },
    )
    .await?;
    // bash, not dash: dash reports every failed write as "I/O error".
    let write = carol
        .exec(&["bash", "-c", "echo x > /data/after-full"])
        .await?;
    assert_ne!(write.exit_code, 0, "write on a full disk succeeded");
    assert!(write.stderr.contains("No space left"), "{}", write.stderr);
    inj.heal(&cluster, "vlsd-carol").await?;
    let write = carol
        .exec(&["sh", "-c", "echo x > /data/after-heal"])
        .await?;
    assert_eq!(write.exit_code, 0, "{}", write.stderr);

    // Corruption: exactly the bits, bytes and length asked for.
    let c = cluster.container(alice)?;
    c.write_file(PROBE, vec![0u8; 4096]).await?;
    let corrupt = |corruption| Fault::Corrupt {
        target: alice.into(),
        path: PROBE.into(),
        corruption,
    };
    inj.apply(&cluster, &corrupt(Corruption::FlipBits { count: 16 }))
        .await?;
    let data = c.read_file(PROBE).await?;
    assert_eq!(data.len(), 4096);
    assert_eq!(data.iter().map(|b| b.count_ones()).sum::<u32>(), 16);
    c.write_file(PROBE, vec![0xffu8; 4096]).await?;
    inj.apply(
        &cluster,
        &corrupt(Corruption::Zero {
            offset: 100,
            len: 50,
        }),
    )
    .await?;
    let data = c.read_file(PROBE).await?;
    assert!(data[100..150].iter().all(|b| *b == 0) && data[99] == 0xff && data[150] == 0xff);
    inj.apply(&cluster, &corrupt(Corruption::Truncate { len: 1000 }))
        .await?;
    assert_eq!(c.read_file(PROBE).await?.len(), 1000);
    // Delete works on a stopped component too (through a helper container).
    inj.apply(
        &cluster,
        &Fault::Kill {
            target: alice.into(),
        },
    )
    .await?;
    inj.apply(&cluster, &corrupt(Corruption::Delete)).await?;
    assert!(
        !c.file_exists(PROBE).await?,
        "file still there after delete"
    );
    inj.heal(&cluster, alice).await?;
    assert!(c.status().await?.running);

    let run_id = cluster.run_id().to_string();
    cluster.shutdown().await?;
    assert!(scenarios::leftovers(&run_id).await?.is_empty());
    Ok(())
}

/// Milliseconds a TCP connect from `from` to bitcoind's RPC port takes.
async fn connect_ms(cluster: &Cluster, from: &str) -> anyhow::Result<u64> {
    let out = cluster
        .container(from)?
        .exec(&[
            "bash",
            "-c",
            "s=$(date +%s%N); exec 3<>/dev/tcp/bitcoind/18443 || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))",
        ])
        .await?;
    anyhow::ensure!(out.exit_code == 0, "connect failed: {}", out.stderr);
    Ok(out.stdout.trim().parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cut_loses_unsynced_writes_and_delay_holds_packets() -> anyhow::Result<()> {
    scenarios::init();
    let dave = "vlsd-dave";
    let cluster = Cluster::builder()
        .bitcoind()
        .signer("dave")
        .with_power_cut(dave)
        .start()
        .await?;
    let mut inj = Injector::new(11);
    let c = cluster.container(dave)?;
    let sh = |script: &'static str| async move {
        let out = c.exec(&["sh", "-c", script]).await?;
        anyhow::ensure!(out.exit_code == 0, "`{script}`: {}", out.stderr);
        anyhow::Ok(out.stdout)
    };

    // A process crash keeps what was written, synced or not: the kernel
    // (here the agent) still holds it and writes it back.
    sh("echo crash-survivor > /data/k").await?;
    inj.apply(
        &cluster,
        &Fault::Kill {
            target: dave.into(),
        },
    )
    .await?;
    assert_eq!(c.read_file("/data/k").await?, b"crash-survivor\n");
    inj.heal(&cluster, dave).await?;

    // A power cut keeps only what was fsynced (`sync FILE` fsyncs it).
    sh("echo unsynced > /data/u; echo synced > /data/s; sync /data/s").await?;
    assert_eq!(
        sh("cat /data/u").await?,
        "unsynced\n",
        "the program sees its write"
    );
    inj.apply(
        &cluster,
        &Fault::PowerCut {
            target: dave.into(),
        },
    )
    .await?;
    assert!(!c.status().await?.running);
    assert_eq!(c.read_file("/data/s").await?, b"synced\n");
    assert_eq!(
        c.read_file("/data/u").await?,
        b"",
        "an unsynced write survived the power cut"
    );
    inj.heal(&cluster, dave).await?;
    assert_eq!(sh("cat /data/s").await?, "synced\n");
    assert_eq!(sh("wc -c < /data/u").await?.trim(), "0");

    // Delay: a TCP handshake waits for the held SYN; after heal it does not.
    let before = connect_ms(&cluster, dave).await?;
    inj.apply(
        &cluster,
        &Fault::Delay {
            target: dave.into(),
            ms: 400,
        },
    )
    .await?;
    let delayed = connect_ms(&cluster, dave).await?;
    inj.heal(&cluster, dave).await?;
    let after = connect_ms(&cluster, dave).await?;
    println!("connect: {before} ms before, {delayed} ms delayed, {after} ms after heal");
    // A lower bound only: the SYN was held 400 ms. How fast things are
    // without the delay is the machine's, not the fault's.
    assert!(
        delayed >= 400,
        "connect took {delayed} ms under a 400 ms delay"
    );
    let rules = c.exec(&["iptables", "-S"]).await?.stdout;
    assert!(!rules.contains("NFQUEUE"), "{rules}");

    let run_id = cluster.run_id().to_string();
    cluster.shutdown().await?;
    assert!(scenarios::leftovers(&run_id).await?.is_empty());
    Ok(())
}
