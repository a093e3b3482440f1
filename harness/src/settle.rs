//! When the chain is settled, and how far to mine before looking again.
//! Pure decisions over what the nodes report (each balance still on chain
//! and the height it waits for), so they are tested without Docker.

use lnnode_api::{Balance, ClaimKind};

/// What to do after one look at the nodes and the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing is pending anywhere, twice in a row.
    Settled,
    /// Mine this many blocks, then look again; `why` is for the log.
    Mine { blocks: u64, why: String },
}

/// `tip` is bitcoind's height, `mempool` the transactions waiting there,
/// `quiet_before` how many looks in a row before this one found nothing
/// pending. A balance that waits for a height makes the chain jump to the
/// block before it; anything that waits only for a block (a transaction
/// in the mempool, unconfirmed wallet funds, a claim being broadcast, a
/// height already reached) is mined a block at a time. Settled needs two
/// quiet looks a block apart: LDK hands an output from its monitor to its
/// sweeper through an event, and for a moment neither reports it.
pub fn next(tip: u64, nodes: &[(&str, &Balance)], mempool: usize, quiet_before: u32) -> Next {
    let waiting = pending(nodes);
    if waiting.is_empty() && mempool == 0 {
        return if quiet_before >= 1 {
            Next::Settled
        } else {
            Next::Mine {
                blocks: 1,
                why: "nothing pending: one more block to be sure".to_string(),
            }
        };
    }
    let now = mempool > 0
        || nodes.iter().any(|(_, b)| b.wallet_pending_sat > 0)
        || nodes
            .iter()
            .flat_map(|(_, b)| &b.claims)
            .any(|c| waits_for_height(c.kind, c.height).is_none_or(|h| u64::from(h) <= tip + 1));
    let earliest = nodes
        .iter()
        .flat_map(|(_, b)| &b.claims)
        .filter_map(|c| waits_for_height(c.kind, c.height))
        .min();
    let blocks = match earliest {
        Some(h) if !now => u64::from(h) - 1 - tip,
        _ => 1,
    };
    let mut why = waiting.join("; ");
    if mempool > 0 {
        why.push_str(&format!("; {mempool} transactions in the mempool"));
    }
    Next::Mine { blocks, why }
}

/// The height a claim lets the chain jump to, if any: a contentious HTLC
/// and a revoked output are claimed now, whatever their deadlines.
fn waits_for_height(kind: ClaimKind, height: Option<u32>) -> Option<u32> {
    match kind {
        ClaimKind::Contentious | ClaimKind::RevokedOutput => None,
        _ => height,
    }
}

/// One line per node with anything still on chain or unconfirmed.
pub fn pending(nodes: &[(&str, &Balance)]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|(name, b)| {
            let mut parts: Vec<String> = b
                .claims
                .iter()
                .map(|c| {
                    let at = c
                        .height
                        .map(|h| format!(" at height {h}"))
                        .unwrap_or_default();
                    format!("{:?} {} sat{at}", c.kind, c.amount_sat)
                })
                .collect();
            if b.wallet_pending_sat > 0 {
                parts.push(format!("unconfirmed {} sat", b.wallet_pending_sat));
            }
            // A node whose lnnode predates `claims` still reports totals.
            if b.claims.is_empty() && b.claimable_onchain_sat + b.sweeping_sat > 0 {
                parts.push(format!(
                    "claimable {} sat, sweeping {} sat",
                    b.claimable_onchain_sat, b.sweeping_sat
                ));
            }
            (!parts.is_empty()).then(|| format!("{name}: {}", parts.join(", ")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnnode_api::Claim;

    fn balance(claims: Vec<Claim>) -> Balance {
        Balance {
            wallet_trusted_sat: 0,
            wallet_pending_sat: 0,
            claimable_onchain_sat: 0,
            sweeping_sat: 0,
            channels_local_msat: 0,
            claims,
        }
    }

    fn claim(kind: ClaimKind, amount_sat: u64, height: Option<u32>) -> Claim {
        Claim {
            kind,
            amount_sat,
            height,
        }
    }

    #[test]
    fn an_outbound_htlc_timeout_claim_keeps_settling_and_jumps_to_its_height() {
        // LDK counts it as 0 claimable; settling must not stop, and mines
        // straight to the block before the claim can be made.
        let alice = balance(vec![claim(ClaimKind::OurHtlc, 70_000, Some(231))]);
        let bob = balance(vec![]);
        let nodes = [("alice", &alice), ("bob", &bob)];
        match next(184, &nodes, 0, 3) {
            Next::Mine { blocks, why } => {
                assert_eq!(blocks, 46);
                assert!(
                    why.contains("alice: OurHtlc 70000 sat at height 231"),
                    "{why}"
                );
            }
            Next::Settled => panic!("settled with alice's HTLC unclaimed"),
        }
        // At its height, block by block until it is gone.
        assert!(matches!(
            next(230, &nodes, 0, 0),
            Next::Mine { blocks: 1, .. }
        ));
    }

    #[test]
    fn the_earliest_height_wins_and_anything_due_now_goes_block_by_block() {
        let alice = balance(vec![
            claim(ClaimKind::AwaitingConfirmations, 900_000, Some(300)),
            claim(ClaimKind::OurHtlc, 70_000, Some(250)),
        ]);
        assert!(matches!(
            next(200, &[("alice", &alice)], 0, 0),
            Next::Mine { blocks: 49, .. }
        ));
        // A transaction in the mempool, a claim being broadcast, or a
        // contentious HTLC being claimed: one block.
        assert!(matches!(
            next(200, &[("alice", &alice)], 1, 0),
            Next::Mine { blocks: 1, .. }
        ));
        let bob = balance(vec![claim(ClaimKind::Sweeping, 5, None)]);
        assert!(matches!(
            next(200, &[("alice", &alice), ("bob", &bob)], 0, 0),
            Next::Mine { blocks: 1, .. }
        ));
        let carol = balance(vec![claim(ClaimKind::Contentious, 7, Some(400))]);
        assert!(matches!(
            next(200, &[("carol", &carol)], 0, 0),
            Next::Mine { blocks: 1, .. }
        ));
    }

    #[test]
    fn settled_takes_two_quiet_looks_and_an_empty_mempool() {
        let quiet = balance(vec![]);
        let nodes = [("alice", &quiet)];
        assert!(matches!(
            next(200, &nodes, 0, 0),
            Next::Mine { blocks: 1, .. }
        ));
        assert_eq!(next(201, &nodes, 0, 1), Next::Settled);
        assert!(matches!(
            next(201, &nodes, 2, 1),
            Next::Mine { blocks: 1, .. }
        ));
        let mut unconfirmed = balance(vec![]);
        unconfirmed.wallet_pending_sat = 10;
        assert!(matches!(
            next(201, &[("a", &unconfirmed)], 0, 1),
            Next::Mine { blocks: 1, .. }
        ));
    }
}
