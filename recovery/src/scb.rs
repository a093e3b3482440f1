//! Core Lightning static channel backups (`recoverchannel` input) from a
//! snapshot.
//!
//! Each entry is Core Lightning's `modern_scb_chan` (v25.02 and later), all
//! integers big-endian: dbid u64, channel id [32], peer id [33], wireaddr,
//! funding txid [32] (internal byte order) and vout u32, capacity u64,
//! channel type (u16 length + feature bits), then a u32 length and a TLV
//! stream: 1 shachain, 3 the peer's basepoints, 5 opener, 7 the delay the peer
//! imposes on us. docs/recovery.md has the table; tests here pin the bytes.
//!
//! Only channels whose VLS id is Core Lightning's (peer id + dbid) can be
//! exported: Core Lightning re-derives the channel keys from exactly those.
//! Every other channel is listed with the reason, never dropped silently.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use lightning_signer::bitcoin::hashes::Hash;
use lightning_signer::bitcoin::OutPoint;
use serde::Serialize;

use crate::error::RecoveryError;
use crate::snapshot::{ChannelOrigin, ChannelStatus, ChannelView, Snapshot};

const TLV_SHACHAIN: u64 = 1;
const TLV_BASEPOINTS: u64 = 3;
const TLV_OPENER: u64 = 5;
const TLV_REMOTE_TO_SELF_DELAY: u64 = 7;
/// Shachain indexes count down from 2^48 - 1; 2^48 means "none yet".
const SHACHAIN_EMPTY: u64 = 1 << 48;

const FEATURE_STATIC_REMOTE_KEY: u16 = 12;
const FEATURE_ANCHOR_OUTPUTS: u16 = 20;
const FEATURE_ANCHORS_ZERO_FEE_HTLC: u16 = 22;

/// How the peer's revocation secrets are written into TLV 1.
///
/// Core Lightning's onchaind takes a commitment whose number equals the
/// count of secrets received for the peer's current one, and reads its
/// outputs with the per-commitment point it keeps for it; a stub keeps
/// none (it stores the peer's node id there), so every output of the
/// peer's is unmatched and onchaind dies (docs/findings.md). Any other
/// number that no secret opens takes the "unknown commitment" path, which
/// claims our `to_remote` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShachainForm {
    /// Every secret, with the chain's lowest index set to 1, so the count
    /// of secrets received reads 2^48 - 1, which no commitment number
    /// reaches: a revoked commitment is still opened by its secret
    /// (justice), and the peer's current one goes the "unknown commitment"
    /// way, which brings our output home whatever the peer holds.
    #[default]
    Recoverable,
    /// Exactly as Core Lightning's own `staticbackup` writes it: the lowest
    /// index is the last secret received. Recovery then works only while
    /// the peer has no output on its commitment.
    AsStaticbackup,
}

/// The lowest shachain index [`ShachainForm::Recoverable`] claims: Core
/// Lightning counts secrets received as 2^48 minus it.
const RECOVERABLE_MIN_INDEX: u64 = 1;

/// A peer's network address as Core Lightning's `wireaddr` encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "address", rename_all = "lowercase")]
pub enum WireAddr {
    Ipv4(Ipv4Addr, u16),
    Ipv6(Ipv6Addr, u16),
    Dns(String, u16),
}

impl WireAddr {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            WireAddr::Ipv4(a, p) => {
                out.push(1);
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&p.to_be_bytes());
            }
            WireAddr::Ipv6(a, p) => {
                out.push(2);
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&p.to_be_bytes());
            }
            WireAddr::Dns(h, p) => {
                out.push(5);
                out.push(h.len() as u8);
                out.extend_from_slice(h.as_bytes());
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
}

/// `--peer-addr ID@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub peer_id: String,
    pub addr: WireAddr,
}

impl FromStr for PeerAddr {
    type Err = RecoveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| RecoveryError::Usage {
            reason: format!(
                "--peer-addr `{s}`: {why}; expected NODEID@HOST:PORT (IPv6 as [ADDR]:PORT)"
            ),
        };
        let (id, hostport) = s.split_once('@').ok_or_else(|| bad("no `@`"))?;
        let id = id.to_ascii_lowercase();
        if id.len() != 66 || hex::decode(&id).is_err() {
            return Err(bad("the node id is not 66 hex digits"));
        }
        let (host, port) = hostport.rsplit_once(':').ok_or_else(|| bad("no `:PORT`"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not 1..65535"))?;
        let addr = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            WireAddr::Ipv6(v6.parse().map_err(|_| bad("bad IPv6 address"))?, port)
        } else if let Ok(v4) = host.parse::<Ipv4Addr>() {
            WireAddr::Ipv4(v4, port)
        } else if !host.is_empty() && host.len() <= 255 && !host.contains(':') {
            WireAddr::Dns(host.to_string(), port)
        } else {
            return Err(bad("bad host"));
        };
        Ok(PeerAddr { peer_id: id, addr })
    }
}

/// One channel of the export report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScbChannel {
    pub label: String,
    pub exported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_addr: Option<WireAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The export: `scb` is `recoverchannel`'s parameter as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScbExport {
    pub scb: Vec<String>,
    pub channels: Vec<ScbChannel>,
}

fn bigsize(n: u64, out: &mut Vec<u8>) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn tlv(t: u64, value: &[u8], out: &mut Vec<u8>) {
    bigsize(t, out);
    bigsize(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// Feature bits as a big-endian bitmap of minimal length.
fn feature_bitmap(bits: &[u16]) -> Vec<u8> {
    let Some(max) = bits.iter().max() else {
        return Vec::new();
    };
    let len = usize::from(*max) / 8 + 1;
    let mut v = vec![0u8; len];
    for b in bits {
        let b = usize::from(*b);
        v[len - 1 - b / 8] |= 1 << (b % 8);
    }
    v
}

fn channel_type_bits(name: &str) -> Option<Vec<u16>> {
    Some(match name {
        "legacy" => vec![],
        "static-remote-key" => vec![FEATURE_STATIC_REMOTE_KEY],
        "anchors" => vec![FEATURE_STATIC_REMOTE_KEY, FEATURE_ANCHOR_OUTPUTS],
        "anchors-zero-fee-htlc" => vec![FEATURE_STATIC_REMOTE_KEY, FEATURE_ANCHORS_ZERO_FEE_HTLC],
        _ => return None,
    })
}

/// BOLT 2 v1 channel id: the funding txid (internal order) with the output
/// index XORed into its last two bytes.
pub fn v1_channel_id(outpoint: &OutPoint) -> [u8; 32] {
    let mut id = outpoint.txid.to_byte_array();
    let vout = outpoint.vout as u16;
    id[30] ^= (vout >> 8) as u8;
    id[31] ^= (vout & 0xff) as u8;
    id
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).ok().map(|_| b)
}

fn hex33(s: &str) -> Option<[u8; 33]> {
    let mut b = [0u8; 33];
    hex::decode_to_slice(s, &mut b).ok().map(|_| b)
}

/// Encodes one channel, or says why it cannot be.
pub fn encode_channel(
    c: &ChannelView,
    addr: Option<&WireAddr>,
    form: ShachainForm,
) -> Result<Vec<u8>, String> {
    let ChannelOrigin::Cln { peer_id, dbid } = &c.origin else {
        return Err(match c.origin {
            ChannelOrigin::ZeroPeer { .. } => "its VLS id holds a dbid but no peer id (a node such as LDK over the VLS protocol made it); Core Lightning derives channel keys from peer id + dbid".into(),
            _ => "its VLS id is not Core Lightning's peer id + dbid, so Core Lightning cannot derive its keys".into(),
        });
    };
    match c.status {
        ChannelStatus::Stub => return Err("not set up yet: no funding outpoint".into()),
        ChannelStatus::Closed => return Err("closed: the signer has seen it close".into()),
        ChannelStatus::Open => {}
    }
    let missing = |what: &str| format!("the snapshot has no {what}");
    let outpoint: OutPoint = c
        .funding_outpoint
        .as_deref()
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| missing("funding outpoint"))?;
    let peer = hex33(peer_id).ok_or_else(|| missing("valid peer id"))?;
    let points = c
        .counterparty_points
        .as_ref()
        .ok_or_else(|| missing("counterparty basepoints"))?;
    let bits = c
        .commitment_type
        .as_deref()
        .and_then(channel_type_bits)
        .ok_or_else(|| missing("known commitment type"))?;

    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&dbid.to_be_bytes());
    out.extend_from_slice(&v1_channel_id(&outpoint));
    out.extend_from_slice(&peer);
    // Unknown address: 0.0.0.0 port 0 parses, and Core Lightning then waits
    // for the peer to connect instead of dialling it.
    addr.cloned()
        .unwrap_or(WireAddr::Ipv4(Ipv4Addr::UNSPECIFIED, 0))
        .encode(&mut out);
    out.extend_from_slice(&outpoint.txid.to_byte_array());
    out.extend_from_slice(&outpoint.vout.to_be_bytes());
    out.extend_from_slice(&c.capacity_sat.to_be_bytes());
    let bitmap = feature_bitmap(&bits);
    out.extend_from_slice(&(bitmap.len() as u16).to_be_bytes());
    out.extend_from_slice(&bitmap);

    let mut tlvs = Vec::with_capacity(256);
    // Shachain: slot i holds the secret whose index has i trailing zeros,
    // the same compact layout VLS keeps, so slots map one to one.
    let mut chain = Vec::new();
    let mut min_index = SHACHAIN_EMPTY;
    for (pos, s) in c.counterparty_secrets.iter().enumerate() {
        if s.index >= SHACHAIN_EMPTY || (s.index.trailing_zeros() as usize).min(48) != pos {
            return Err(format!(
                "revocation secret slot {pos} holds index {}, which belongs elsewhere",
                s.index
            ));
        }
        let secret = hex32(&s.secret).ok_or_else(|| missing("valid revocation secret"))?;
        min_index = min_index.min(s.index);
        chain.extend_from_slice(&s.index.to_be_bytes());
        chain.extend_from_slice(&secret);
    }
    if form == ShachainForm::Recoverable {
        min_index = RECOVERABLE_MIN_INDEX;
    }
    let mut sha = Vec::with_capacity(12 + chain.len());
    sha.extend_from_slice(&min_index.to_be_bytes());
    sha.extend_from_slice(&(c.counterparty_secrets.len() as u32).to_be_bytes());
    sha.extend_from_slice(&chain);
    tlv(TLV_SHACHAIN, &sha, &mut tlvs);

    let mut bp = Vec::with_capacity(132);
    for p in [
        &points.revocation,
        &points.payment,
        &points.htlc,
        &points.delayed_payment,
    ] {
        bp.extend_from_slice(&hex33(p).ok_or_else(|| missing("valid basepoint"))?);
    }
    tlv(TLV_BASEPOINTS, &bp, &mut tlvs);
    // Core Lightning's `enum side`: LOCAL (0) when we opened.
    let opener = if c.is_outbound.unwrap_or(false) {
        0u8
    } else {
        1
    };
    tlv(TLV_OPENER, &[opener], &mut tlvs);
    let delay = c
        .counterparty_selected_contest_delay
        .ok_or_else(|| missing("counterparty to_self_delay"))?;
    tlv(TLV_REMOTE_TO_SELF_DELAY, &delay.to_be_bytes(), &mut tlvs);

    out.extend_from_slice(&(tlvs.len() as u32).to_be_bytes());
    out.extend_from_slice(&tlvs);
    Ok(out)
}

/// Exports every channel it can; lists the rest with reasons.
pub fn export(snapshot: &Snapshot, addrs: &[PeerAddr], form: ShachainForm) -> ScbExport {
    let by_peer: BTreeMap<&str, &WireAddr> = addrs
        .iter()
        .map(|a| (a.peer_id.as_str(), &a.addr))
        .collect();
    let mut scb = Vec::new();
    let mut channels = Vec::new();
    for c in &snapshot.channels {
        let (dbid, addr) = match &c.origin {
            ChannelOrigin::Cln { peer_id, dbid } => {
                (Some(*dbid), by_peer.get(peer_id.as_str()).copied())
            }
            _ => (None, None),
        };
        let channel_id = c
            .funding_outpoint
            .as_deref()
            .and_then(|o| o.parse::<OutPoint>().ok())
            .map(|o| hex::encode(v1_channel_id(&o)));
        match encode_channel(c, addr, form) {
            Ok(bytes) => {
                scb.push(hex::encode(bytes));
                channels.push(ScbChannel {
                    label: c.label(),
                    exported: true,
                    reason: None,
                    dbid,
                    channel_id,
                    peer_addr: addr.cloned(),
                    warning: addr.is_none().then(|| {
                        "peer address unknown (pass --peer-addr): Core Lightning will wait for the peer to connect".to_string()
                    }),
                });
            }
            Err(reason) => channels.push(ScbChannel {
                label: c.label(),
                exported: false,
                reason: Some(reason),
                dbid,
                channel_id,
                peer_addr: None,
                warning: None,
            }),
        }
    }
    ScbExport { scb, channels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{PointsView, SecretView};

    fn point(b: u8) -> String {
        format!("02{}", hex::encode([b; 32]))
    }

    fn channel() -> ChannelView {
        ChannelView {
            key: "channel/x/y".into(),
            version: 5,
            id0: String::new(),
            origin: ChannelOrigin::Cln {
                peer_id: point(0x11),
                dbid: 0x0102,
            },
            channel_id: None,
            status: ChannelStatus::Open,
            capacity_sat: 1_000_000,
            funding_outpoint: Some(format!("{}:1", hex::encode([0xab; 32]))),
            commitment_type: Some("anchors-zero-fee-htlc".into()),
            is_outbound: Some(true),
            push_msat: Some(0),
            holder_selected_contest_delay: Some(144),
            counterparty_selected_contest_delay: Some(0x0190),
            counterparty_points: Some(PointsView {
                funding: point(1),
                revocation: point(2),
                payment: point(3),
                delayed_payment: point(4),
                htlc: point(5),
            }),
            next_holder_commit_num: 3,
            next_counterparty_commit_num: 3,
            next_counterparty_revoke_num: 2,
            counterparty_secrets: vec![
                SecretView {
                    index: (1 << 48) - 1,
                    secret: hex::encode([0xc1; 32]),
                },
                SecretView {
                    index: (1 << 48) - 2,
                    secret: hex::encode([0xc2; 32]),
                },
            ],
            to_holder_sat: None,
            to_counterparty_sat: None,
            htlcs: vec![],
            blockheight: None,
        }
    }

    /// The layout written out field by field, independently of the encoder.
    #[test]
    fn bytes_are_pinned() {
        let addr = WireAddr::Ipv4(Ipv4Addr::new(127, 0, 0, 1), 9735);
        let got =
            encode_channel(&channel(), Some(&addr), ShachainForm::AsStaticbackup).expect("encode");
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]); // dbid
        let mut cid = [0xab; 32];
        cid[31] ^= 1;
        want.extend_from_slice(&cid); // txid xor vout
        want.extend_from_slice(&hex::decode(point(0x11)).unwrap());
        want.extend_from_slice(&[1, 127, 0, 0, 1, 0x26, 0x07]); // ipv4:9735
        want.extend_from_slice(&[0xab; 32]);
        want.extend_from_slice(&[0, 0, 0, 1]); // vout
        want.extend_from_slice(&1_000_000u64.to_be_bytes());
        want.extend_from_slice(&[0, 3, 0x40, 0x10, 0x00]); // bits 22 and 12
        let tlv_len = (2 + 12 + 2 * 40) + (2 + 132) + (2 + 1) + (2 + 2);
        want.extend_from_slice(&(tlv_len as u32).to_be_bytes());
        want.extend_from_slice(&[1, 92]);
        want.extend_from_slice(&((1u64 << 48) - 2).to_be_bytes()); // min index
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(&((1u64 << 48) - 1).to_be_bytes());
        want.extend_from_slice(&[0xc1; 32]);
        want.extend_from_slice(&((1u64 << 48) - 2).to_be_bytes());
        want.extend_from_slice(&[0xc2; 32]);
        want.extend_from_slice(&[3, 132]);
        for b in [2u8, 3, 5, 4] {
            want.extend_from_slice(&hex::decode(point(b)).unwrap());
        }
        want.extend_from_slice(&[5, 1, 0]); // opener LOCAL
        want.extend_from_slice(&[7, 2, 0x01, 0x90]);
        assert_eq!(hex::encode(&got), hex::encode(&want));
    }

    /// The recoverable form differs only in the chain's lowest index; the
    /// secrets themselves (justice on a revoked commitment) are kept.
    #[test]
    fn the_recoverable_chain_keeps_every_secret_and_claims_index_one() {
        let c = channel();
        let exact = encode_channel(&c, None, ShachainForm::AsStaticbackup).expect("exact");
        let safe = encode_channel(&c, None, ShachainForm::Recoverable).expect("safe");
        assert_eq!(exact.len(), safe.len());
        let differs: Vec<usize> = (0..exact.len()).filter(|i| exact[*i] != safe[*i]).collect();
        // TLV 1's value starts right after its type and length bytes.
        let tlv1 = exact.len() - ((2 + 12 + 2 * 40) + (2 + 132) + (2 + 1) + (2 + 2)) + 2;
        assert!(
            differs.iter().all(|i| (tlv1..tlv1 + 8).contains(i)),
            "{differs:?}"
        );
        assert_eq!(&safe[tlv1..tlv1 + 8], &RECOVERABLE_MIN_INDEX.to_be_bytes());
        assert_eq!(&exact[tlv1..tlv1 + 8], &((1u64 << 48) - 2).to_be_bytes());
    }

    #[test]
    fn other_nodes_channels_are_listed_not_exported() {
        let mut c = channel();
        c.origin = ChannelOrigin::ZeroPeer { dbid: 7 };
        let e = encode_channel(&c, None, ShachainForm::Recoverable).expect_err("zero peer");
        assert!(e.contains("no peer id"), "{e}");
        c.origin = ChannelOrigin::Opaque;
        assert!(encode_channel(&c, None, ShachainForm::Recoverable).is_err());
        let mut stub = channel();
        stub.status = ChannelStatus::Stub;
        assert!(encode_channel(&stub, None, ShachainForm::Recoverable)
            .expect_err("stub")
            .contains("funding"));
    }

    #[test]
    fn unknown_address_is_unspecified_and_warned() {
        let got = encode_channel(&channel(), None, ShachainForm::Recoverable).expect("encode");
        assert_eq!(&got[73..80], &[1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn misplaced_secret_is_refused() {
        let mut c = channel();
        c.counterparty_secrets.swap(0, 1);
        assert!(encode_channel(&c, None, ShachainForm::Recoverable).is_err());
    }

    #[test]
    fn peer_addr_parses() {
        let id = point(9);
        let a: PeerAddr = format!("{id}@10.0.0.2:9735").parse().expect("v4");
        assert_eq!(a.addr, WireAddr::Ipv4(Ipv4Addr::new(10, 0, 0, 2), 9735));
        let a: PeerAddr = format!("{id}@[::1]:1").parse().expect("v6");
        assert_eq!(a.addr, WireAddr::Ipv6(Ipv6Addr::LOCALHOST, 1));
        let a: PeerAddr = format!("{id}@node.example:9735").parse().expect("dns");
        assert_eq!(a.addr, WireAddr::Dns("node.example".into(), 9735));
        for bad in [
            "x@1.2.3.4:1".to_string(),
            format!("{id}1.2.3.4:1"),
            format!("{id}@1.2.3.4"),
            format!("{id}@1.2.3.4:0"),
        ] {
            assert_eq!(bad.parse::<PeerAddr>().expect_err(&bad).code(), "E-USAGE");
        }
    }

    #[test]
    fn bigsize_boundaries() {
        for (n, want) in [
            (0xfcu64, vec![0xfc]),
            (0xfd, vec![0xfd, 0, 0xfd]),
            (0x1_0000, vec![0xfe, 0, 1, 0, 0]),
            (0x1_0000_0000, vec![0xff, 0, 0, 0, 1, 0, 0, 0, 0]),
        ] {
            let mut v = Vec::new();
            bigsize(n, &mut v);
            assert_eq!(v, want, "{n}");
        }
    }
}
