//! LDK's on-chain balances as the admin API reports them: each with what
//! it is and the height it waits for, so the harness can mine straight to
//! the next height at which something can happen, and never stops while a
//! balance still waits on a timelock.

use lightning::chain::channelmonitor::{Balance as LdkBalance, ANTI_REORG_DELAY};
use lightning::util::sweep::OutputSpendStatus;
use lnnode_api::{Claim, ClaimKind};

/// One claim per balance that is not an open channel's (those are the
/// channel balances).
pub fn from_balance(b: &LdkBalance) -> Option<Claim> {
    let (kind, amount_sat, height) = match b {
        LdkBalance::ClaimableOnChannelClose { .. } => return None,
        LdkBalance::ClaimableAwaitingConfirmations {
            amount_satoshis,
            confirmation_height,
            ..
        } => (
            ClaimKind::AwaitingConfirmations,
            *amount_satoshis,
            Some(*confirmation_height),
        ),
        LdkBalance::ContentiousClaimable {
            amount_satoshis,
            timeout_height,
            ..
        } => (
            ClaimKind::Contentious,
            *amount_satoshis,
            Some(*timeout_height),
        ),
        LdkBalance::MaybeTimeoutClaimableHTLC {
            amount_satoshis,
            claimable_height,
            ..
        } => (
            ClaimKind::OurHtlc,
            *amount_satoshis,
            Some(*claimable_height),
        ),
        LdkBalance::MaybePreimageClaimableHTLC {
            amount_satoshis,
            expiry_height,
            ..
        } => (ClaimKind::TheirHtlc, *amount_satoshis, Some(*expiry_height)),
        LdkBalance::CounterpartyRevokedOutputClaimable { amount_satoshis } => {
            (ClaimKind::RevokedOutput, *amount_satoshis, None)
        }
    };
    Some(Claim {
        kind,
        amount_sat,
        height,
    })
}

/// An output with the sweeper, until ANTI_REORG_DELAY blocks bury its
/// sweep (the sweeper keeps it for thousands of blocks after that).
pub fn from_sweep(status: &OutputSpendStatus, amount_sat: u64, best: u32) -> Option<Claim> {
    let height = match status {
        OutputSpendStatus::PendingThresholdConfirmations {
            confirmation_height,
            ..
        } => {
            let buried = confirmation_height + ANTI_REORG_DELAY - 1;
            if best >= buried {
                return None;
            }
            Some(buried)
        }
        _ => None,
    };
    Some(Claim {
        kind: ClaimKind::Sweeping,
        amount_sat,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning::types::payment::PaymentHash;

    #[test]
    fn an_outbound_htlc_waiting_for_its_timeout_is_a_claim_with_its_height() {
        // LDK reports 0 claimable for it; the claim keeps its amount.
        let b = LdkBalance::MaybeTimeoutClaimableHTLC {
            amount_satoshis: 70_000,
            claimable_height: 231,
            payment_hash: PaymentHash([1; 32]),
            outbound_payment: true,
        };
        assert_eq!(b.claimable_amount_satoshis(), 0);
        assert_eq!(
            from_balance(&b),
            Some(Claim {
                kind: ClaimKind::OurHtlc,
                amount_sat: 70_000,
                height: Some(231)
            })
        );
    }

    #[test]
    fn a_revoked_output_is_claimable_at_once() {
        let b = LdkBalance::CounterpartyRevokedOutputClaimable { amount_satoshis: 5 };
        assert_eq!(from_balance(&b).and_then(|c| c.height), None);
    }
}
