//! Per-party accounting: for every channel the run opened and each of its
//! two ends, what that node should hold of it (its opening share, plus the
//! payments it received over it, minus those it sent) against what it
//! holds: its balance while the channel is open; once closed, what reached
//! its wallet from the channel's funding output on chain plus the fees it
//! paid on the way, each fee named by its transaction. Pure: the runner
//! reads the chain, the wallets and the payments; this judges them.
//!
//! Who pays a fee: the commitment or closing transaction that spends the
//! funding output is paid by the opener (channels without anchors); every
//! later transaction by the node its outputs reach, in proportion to what
//! each input brought. A channel whose revoked commitment was punished
//! belongs to the punisher (the node the justice transaction pays).

use std::collections::BTreeMap;

/// Whole-satoshi rounding per end of a channel: the commitment's outputs
/// are its msat balances rounded down, the remainder going to the fee; and
/// splitting a batched sweep's fee across its inputs rounds down once.
pub const PARTY_ROUNDING_SAT: u64 = 2;

/// `txid:vout`.
pub type OutPoint = (String, u32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxIn {
    pub prevout: OutPoint,
    pub value_sat: u64,
    /// Spent by the revocation path (a justice transaction's input).
    pub revocation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOut {
    pub value_sat: u64,
    pub address: Option<String>,
}

/// A confirmed transaction since setup (not coinbase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTx {
    pub txid: String,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
}

impl ChainTx {
    fn fee(&self) -> u64 {
        let i: u64 = self.inputs.iter().map(|i| i.value_sat).sum();
        let o: u64 = self.outputs.iter().map(|o| o.value_sat).sum();
        i.saturating_sub(o)
    }
}

/// A channel the run opened, as far as the run knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBook {
    /// The scenario's name for it, e.g. `alice-bob`.
    pub name: String,
    pub opener: String,
    pub peer: String,
    pub funding: OutPoint,
    pub capacity_sat: u64,
    /// Each end's balance (msat) while both ends still list it.
    pub open: Option<BTreeMap<String, u64>>,
}

/// A payment that succeeded, in msat (what the payer paid, fees included,
/// and what the payee got).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub sent_msat: u64,
    pub received_msat: u64,
}

/// Everything the check reads.
#[derive(Debug, Clone, Default)]
pub struct Books {
    pub txs: Vec<ChainTx>,
    pub channels: Vec<ChannelBook>,
    pub transfers: Vec<Transfer>,
    /// Addresses of each node's wallet (and where recovery sent its funds).
    pub owners: BTreeMap<String, String>,
}

/// One end of one channel, judged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartyLine {
    pub node: String,
    pub channel: String,
    pub expected_sat: u64,
    /// Its balance (open), or what reached its wallet (closed).
    pub held_sat: u64,
    /// Fees it paid, each with its transaction.
    pub fees: Vec<(String, u64)>,
    /// Outputs of the channel still unspent on chain outside any wallet:
    /// (outpoint, sat), not credited to anyone.
    pub unclaimed: Vec<(String, u64)>,
    pub punished: bool,
}

impl PartyLine {
    pub fn fees_sat(&self) -> u64 {
        self.fees.iter().map(|(_, f)| f).sum()
    }

    /// What is missing (negative: more than expected).
    pub fn short_sat(&self) -> i128 {
        self.expected_sat as i128 - self.held_sat as i128 - self.fees_sat() as i128
    }

    /// The line a report pins: what the end should hold and what it holds.
    pub fn figure(&self) -> String {
        format!(
            "{} in {}: expected {} sat, holds {} sat, fees {} sat{}",
            self.node,
            self.channel,
            self.expected_sat,
            self.held_sat,
            self.fees_sat(),
            if self.punished {
                ", punished the peer"
            } else {
                ""
            }
        )
    }

    /// The line a check's detail gives: the figures, the fees by
    /// transaction, what is unclaimed, and the verdict.
    pub fn describe(&self) -> String {
        let fees = if self.fees.is_empty() {
            "no fees".to_string()
        } else {
            format!(
                "fees {} sat ({})",
                self.fees_sat(),
                self.fees
                    .iter()
                    .map(|(t, f)| format!("{f} in {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let unclaimed = if self.unclaimed.is_empty() {
            String::new()
        } else {
            format!(
                "; unclaimed on chain: {}",
                self.unclaimed
                    .iter()
                    .map(|(o, v)| format!("{v} sat at {o}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let short = self.short_sat();
        let verdict = if short > 0 {
            format!("SHORT {short} sat")
        } else if short < 0 {
            format!("OVER {} sat", -short)
        } else {
            "exact".to_string()
        };
        format!(
            "{} in {}: expected {} sat{}, holds {} sat, {fees}{unclaimed}: {verdict}",
            self.node,
            self.channel,
            self.expected_sat,
            if self.punished {
                " (punished the peer's revoked commitment: the whole channel)"
            } else {
                ""
            },
            self.held_sat,
        )
    }
}

/// What an on-chain recovery (`recover_onchain`) found and brought home.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryOutcome {
    pub node: String,
    pub finished: bool,
    pub recovered_sat: u64,
    pub fees_sat: u64,
    /// Outputs the plan claimed that another transaction spent.
    pub taken: Vec<String>,
    /// What the plan could not recover, with why.
    pub shortfalls: Vec<String>,
    /// Blocks to spare before the nearest deadline of a claim when it was
    /// sent (negative: after it passed).
    pub deadline_slack: Option<i64>,
}

/// The per-party figures of a run, for its report and the recovery-rate
/// matrix.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Accounting {
    pub parties: Vec<PartyLine>,
    pub recoveries: Vec<RecoveryOutcome>,
}

/// Every end of every channel in `books`.
pub fn lines(books: &Books) -> Vec<PartyLine> {
    let chain = Chain::new(&books.txs);
    books
        .channels
        .iter()
        .flat_map(|c| channel_lines(books, &chain, c))
        .collect()
}

/// The transactions indexed by what they spend.
struct Chain<'a> {
    spender: BTreeMap<OutPoint, &'a ChainTx>,
}

impl<'a> Chain<'a> {
    fn new(txs: &'a [ChainTx]) -> Self {
        let mut spender = BTreeMap::new();
        for t in txs {
            for i in &t.inputs {
                spender.insert(i.prevout.clone(), t);
            }
        }
        Chain { spender }
    }
}

/// Where the value of one outpoint went: (owner, sat home, fees paid on
/// the way with their txids); unspent outputs outside wallets stay
/// unclaimed.
#[derive(Default)]
struct Trace {
    home: BTreeMap<String, u64>,
    fees: BTreeMap<String, Vec<(String, u64)>>,
    unclaimed: Vec<(String, u64)>,
    /// Owners of the outputs of justice transactions.
    punishers: Vec<String>,
}

fn channel_lines(books: &Books, chain: &Chain<'_>, c: &ChannelBook) -> Vec<PartyLine> {
    let mut expected: BTreeMap<&str, i128> = BTreeMap::new();
    expected.insert(&c.opener, c.capacity_sat as i128 * 1000);
    expected.insert(&c.peer, 0);
    // A payment between the two ends goes over this channel when it is the
    // only one between them.
    let between = books.channels.iter().filter(|o| same_pair(o, c)).count();
    if between == 1 {
        for t in &books.transfers {
            let pair = (t.from.as_str(), t.to.as_str());
            if pair == (c.opener.as_str(), c.peer.as_str())
                || pair == (c.peer.as_str(), c.opener.as_str())
            {
                *expected.entry(&t.from).or_default() -= t.sent_msat as i128;
                *expected.entry(&t.to).or_default() += t.received_msat as i128;
            }
        }
    }
    let ends = [c.opener.as_str(), c.peer.as_str()];
    if let Some(open) = &c.open {
        return ends
            .iter()
            .map(|n| PartyLine {
                node: n.to_string(),
                channel: c.name.clone(),
                expected_sat: sat(expected.get(n).copied().unwrap_or(0)),
                held_sat: open.get(*n).copied().unwrap_or(0) / 1000,
                fees: Vec::new(),
                unclaimed: Vec::new(),
                punished: false,
            })
            .collect();
    }
    let mut trace = Trace::default();
    match chain.spender.get(&c.funding) {
        None => trace
            .unclaimed
            .push((format!("{}:{}", c.funding.0, c.funding.1), c.capacity_sat)),
        Some(close) => {
            // The commitment or closing transaction: its fee is the opener's.
            let fee = close.fee();
            if fee > 0 {
                trace
                    .fees
                    .entry(c.opener.clone())
                    .or_default()
                    .push((close.txid.clone(), fee));
            }
            for (vout, o) in close.outputs.iter().enumerate() {
                follow(books, chain, close, vout, o.value_sat, &mut trace);
            }
        }
    }
    let punisher = trace
        .punishers
        .iter()
        .find(|p| ends.contains(&p.as_str()))
        .cloned();
    ends.iter()
        .map(|n| {
            let expected_msat = match &punisher {
                Some(p) if p == n => c.capacity_sat as i128 * 1000,
                Some(_) => 0,
                None => expected.get(n).copied().unwrap_or(0),
            };
            PartyLine {
                node: n.to_string(),
                channel: c.name.clone(),
                expected_sat: sat(expected_msat),
                held_sat: trace.home.get(*n).copied().unwrap_or(0),
                fees: trace.fees.get(*n).cloned().unwrap_or_default(),
                unclaimed: trace.unclaimed.clone(),
                punished: punisher.as_deref() == Some(*n),
            }
        })
        .collect()
}

fn same_pair(a: &ChannelBook, b: &ChannelBook) -> bool {
    (a.opener == b.opener && a.peer == b.peer) || (a.opener == b.peer && a.peer == b.opener)
}

fn sat(msat: i128) -> u64 {
    (msat.max(0) / 1000) as u64
}

/// Follows `value` sat of output `vout` of `tx` to the wallets it reaches.
fn follow(
    books: &Books,
    chain: &Chain<'_>,
    tx: &ChainTx,
    vout: usize,
    value: u64,
    trace: &mut Trace,
) {
    let Some(out) = tx.outputs.get(vout) else {
        return;
    };
    if let Some(owner) = out.address.as_ref().and_then(|a| books.owners.get(a)) {
        *trace.home.entry(owner.clone()).or_default() += value;
        return;
    }
    let point = (tx.txid.clone(), vout as u32);
    let Some(next) = chain.spender.get(&point) else {
        trace.unclaimed.push((format!("{}:{vout}", tx.txid), value));
        return;
    };
    let inputs: u64 = next.inputs.iter().map(|i| i.value_sat).sum();
    let outputs: u64 = next.outputs.iter().map(|o| o.value_sat).sum();
    if inputs == 0 || outputs == 0 {
        return;
    }
    let revocation = next
        .inputs
        .iter()
        .any(|i| i.prevout == point && i.revocation);
    // This output's share of the next transaction's fee, charged to whoever
    // its outputs reach, in proportion.
    let fee_share = (next.fee() as u128 * value as u128 / inputs as u128) as u64;
    let passed = value.saturating_sub(fee_share);
    let mut charged = 0;
    for (i, o) in next.outputs.iter().enumerate() {
        let part = (passed as u128 * o.value_sat as u128 / outputs as u128) as u64;
        let fee_part = if i + 1 == next.outputs.len() {
            fee_share - charged
        } else {
            (fee_share as u128 * o.value_sat as u128 / outputs as u128) as u64
        };
        charged += fee_part;
        let owner = o.address.as_ref().and_then(|a| books.owners.get(a));
        if revocation {
            // Justice may pay a script of the punisher's signer first, which
            // its node then sweeps home.
            trace.punishers.extend(first_owner(books, chain, next, i));
        }
        if let Some(owner) = owner {
            if fee_part > 0 {
                trace
                    .fees
                    .entry(owner.clone())
                    .or_default()
                    .push((next.txid.clone(), fee_part));
            }
        } else if fee_part > 0 {
            // Paid on the way to a later transaction: charged to where the
            // value ends, as the value it carries less this fee.
            let sink = first_owner(books, chain, next, i);
            trace
                .fees
                .entry(sink.unwrap_or_else(|| "nobody yet".into()))
                .or_default()
                .push((next.txid.clone(), fee_part));
        }
        follow(books, chain, next, i, part, trace);
    }
}

/// The first wallet owner that output `vout` of `tx` reaches, if any.
fn first_owner(books: &Books, chain: &Chain<'_>, tx: &ChainTx, vout: usize) -> Option<String> {
    let out = tx.outputs.get(vout)?;
    if let Some(o) = out.address.as_ref().and_then(|a| books.owners.get(a)) {
        return Some(o.clone());
    }
    let next = chain.spender.get(&(tx.txid.clone(), vout as u32))?;
    (0..next.outputs.len()).find_map(|i| first_owner(books, chain, next, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(v: u64, a: Option<&str>) -> TxOut {
        TxOut {
            value_sat: v,
            address: a.map(String::from),
        }
    }

    fn spend(txid: &str, vout: u32, v: u64) -> TxIn {
        TxIn {
            prevout: (txid.into(), vout),
            value_sat: v,
            revocation: false,
        }
    }

    fn tx(txid: &str, inputs: Vec<TxIn>, outputs: Vec<TxOut>) -> ChainTx {
        ChainTx {
            txid: txid.into(),
            inputs,
            outputs,
        }
    }

    /// alice opened 1,000,000 sat to bob and paid him 300,000; alice
    /// force-closed (fee 1,000), and each end's output was swept home.
    fn force_closed() -> Books {
        Books {
            txs: vec![
                tx(
                    "close",
                    vec![spend("fund", 0, 1_000_000)],
                    vec![out(699_000, None), out(300_000, None)],
                ),
                tx(
                    "sweep-a",
                    vec![spend("close", 0, 699_000)],
                    vec![out(698_500, Some("a1"))],
                ),
                tx(
                    "sweep-b",
                    vec![spend("close", 1, 300_000)],
                    vec![out(299_800, Some("b1"))],
                ),
            ],
            channels: vec![ChannelBook {
                name: "alice-bob".into(),
                opener: "alice".into(),
                peer: "bob".into(),
                funding: ("fund".into(), 0),
                capacity_sat: 1_000_000,
                open: None,
            }],
            transfers: vec![Transfer {
                from: "alice".into(),
                to: "bob".into(),
                sent_msat: 300_000_000,
                received_msat: 300_000_000,
            }],
            owners: [("a1", "alice"), ("b1", "bob")]
                .into_iter()
                .map(|(a, n)| (a.to_string(), n.to_string()))
                .collect(),
        }
    }

    #[test]
    fn each_end_holds_its_balance_less_the_fees_it_paid() {
        let l = lines(&force_closed());
        assert_eq!(l[0].node, "alice");
        assert_eq!((l[0].expected_sat, l[0].held_sat), (700_000, 698_500));
        assert_eq!(
            l[0].fees,
            vec![("close".to_string(), 1_000), ("sweep-a".to_string(), 500)]
        );
        assert_eq!(
            (l[1].expected_sat, l[1].held_sat, l[1].fees_sat()),
            (300_000, 299_800, 200)
        );
        assert!(crate::checker::parties(&l).passed());
    }

    #[test]
    fn an_unclaimed_output_fails_naming_the_node_the_amount_and_the_channel() {
        let mut b = force_closed();
        b.txs.retain(|t| t.txid != "sweep-a");
        let c = crate::checker::parties(&lines(&b));
        assert!(!c.passed());
        assert!(c.detail.contains("alice in alice-bob"), "{}", c.detail);
        assert!(c.detail.contains("SHORT 699000 sat"), "{}", c.detail);
        assert!(c.detail.contains("699000 sat at close:0"), "{}", c.detail);
        // bob got his: only alice's line is named.
        assert!(!c.detail.contains("bob in alice-bob"), "{}", c.detail);
    }

    #[test]
    fn a_punished_channel_belongs_to_the_punisher() {
        let mut b = force_closed();
        // bob broadcast an old commitment where he had 500,000; alice took
        // his output with the revocation key.
        b.txs = vec![
            tx(
                "revoked",
                vec![spend("fund", 0, 1_000_000)],
                vec![out(499_000, None), out(500_000, None)],
            ),
            tx(
                "sweep-a",
                vec![spend("revoked", 0, 499_000)],
                vec![out(498_800, Some("a1"))],
            ),
            tx(
                "justice",
                vec![TxIn {
                    revocation: true,
                    ..spend("revoked", 1, 500_000)
                }],
                vec![out(499_500, Some("a2"))],
            ),
        ];
        b.owners.insert("a2".into(), "alice".into());
        let l = lines(&b);
        assert!(l[0].punished);
        assert_eq!(
            (l[0].expected_sat, l[0].held_sat, l[0].fees_sat()),
            (1_000_000, 998_300, 1_700)
        );
        assert_eq!((l[1].expected_sat, l[1].held_sat), (0, 0));
        assert!(crate::checker::parties(&l).passed());
    }

    #[test]
    fn a_batched_sweep_charges_each_input_its_share_of_the_fee() {
        let mut b = force_closed();
        b.txs.retain(|t| t.txid != "sweep-a" && t.txid != "sweep-b");
        // One sweep of both outputs to alice's wallet: 1,000 sat fee split
        // 699:300 (rounded down, the last output takes the rest).
        b.txs.push(tx(
            "batch",
            vec![spend("close", 0, 699_000), spend("close", 1, 300_000)],
            vec![out(998_000, Some("a1"))],
        ));
        let l = lines(&b);
        assert_eq!(l[0].held_sat + l[0].fees_sat(), 1_000_000);
        // bob's output went to alice: bob is short, alice over.
        assert!(l[1].short_sat() > 299_000 && l[0].short_sat() < -299_000);
    }

    #[test]
    fn an_open_channel_is_judged_by_its_balances() {
        let mut b = force_closed();
        b.txs.clear();
        b.channels[0].open = Some(
            [("alice", 700_000_400), ("bob", 299_999_600)]
                .into_iter()
                .map(|(n, m)| (n.to_string(), m))
                .collect(),
        );
        let l = lines(&b);
        assert_eq!((l[0].held_sat, l[1].held_sat), (700_000, 299_999));
        assert!(crate::checker::parties(&l).passed());
    }
}
