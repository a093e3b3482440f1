//! `vls-recover sweep`: the plan's ready actions signed (every input
//! script-verified), printed, or broadcast with `--broadcast`.

use clap::Args;
use serde_json::json;
use vls_recovery::plan::Claim;
use vls_recovery::sweep::{self, Signed, Unsigned};
use vls_recovery::RecoveryError;

use crate::args::{OnchainArgs, SpendArgs};
use crate::closer::Closer;
use crate::onchain::{onchain, parse_destination, Onchain};

#[derive(Args)]
pub(crate) struct SweepArgs {
    #[command(flatten)]
    onchain: OnchainArgs,
    #[command(flatten)]
    spend: SpendArgs,
    /// Broadcast the signed transactions.
    #[arg(long, conflicts_with = "dry_run")]
    broadcast: bool,
    /// Sign and verify only (the default).
    #[arg(long)]
    dry_run: bool,
}

/// One transaction's broadcast: its txid, or why it was not sent.
type Sent = Result<String, RecoveryError>;

/// What one sweep did, as its report tells it.
struct Report<'a> {
    rate: u32,
    broadcast: bool,
    signed: &'a [Signed],
    unsigned: &'a [Unsigned],
    /// Each signed transaction's broadcast, in order.
    sent: &'a [Sent],
    notes: &'a [String],
}

/// Ok(true) when something was not signed or not sent.
pub(crate) fn run(json: bool, a: &SweepArgs) -> Result<bool, RecoveryError> {
    let o = onchain(&a.onchain)?;
    let SpendArgs { to, fee_rate } = &a.spend;
    let network = o.snapshot.network()?;
    let destination = parse_destination(to, network)?;
    o.signer.allow_destination(to)?;
    let rate = sweep::choose_fee_rate(network, *fee_rate, o.chain.fee_rate_estimate(6)?)?;
    let (signed, unsigned) = sweep::sign_ready(
        &o.signer,
        &o.plan,
        &o.known.preimages,
        network,
        &destination,
        rate,
    );
    let (sent, notes) = if a.broadcast {
        broadcast(&o, &signed)?
    } else {
        (Vec::new(), Vec::new())
    };
    let report = Report {
        rate,
        broadcast: a.broadcast,
        signed: &signed,
        unsigned: &unsigned,
        sent: &sent,
        notes: &notes,
    };
    if json {
        print_json(&o, &report);
    } else {
        print_text(&o, &report);
    }
    Ok(sent.iter().any(|r| r.is_err()) || !unsigned.is_empty())
}

/// Broadcasts each of `signed`; a force-close's channel is marked closed
/// first (the notes say where).
fn broadcast(o: &Onchain, signed: &[Signed]) -> Result<(Vec<Sent>, Vec<String>), RecoveryError> {
    let mut sent = Vec::new();
    let mut notes = Vec::new();
    let mut closer = Closer::for_source(o)?;
    for s in signed {
        let force_close = o
            .plan
            .actions()
            .into_iter()
            .find(|a| a.channel == s.channel && matches!(a.claim, Claim::ForceClose));
        if let (Some(a), "force-close") = (force_close, s.claim.as_str()) {
            notes.push(closer.mark(a)?);
        }
        sent.push(o.chain.broadcast(&s.tx).map(|t| t.to_string()));
    }
    Ok((sent, notes))
}

/// The report for programs: one JSON document on stdout.
fn print_json(o: &Onchain, r: &Report) {
    let sent: Vec<_> = r
        .sent
        .iter()
        .map(|r| match r {
            Ok(t) => json!({"ok": true, "txid": t}),
            Err(e) => json!({"ok": false, "code": e.code(), "message": e.to_string()}),
        })
        .collect();
    println!(
        "{}",
        json!({"fee_rate": r.rate, "broadcast": r.broadcast, "signed": r.signed, "notes": r.notes,
               "unsigned": r.unsigned, "sent": sent,
               "shortfalls": o.plan.shortfalls().collect::<Vec<_>>()})
    );
}

/// The report for people; a dry run shows each transaction's hex too.
fn print_text(o: &Onchain, r: &Report) {
    println!(
        "{} signed at {} sat/kw{}",
        r.signed.len(),
        r.rate,
        if r.broadcast {
            ", broadcasting"
        } else {
            " (dry run: nothing broadcast)"
        }
    );
    for s in r.signed {
        println!(
            "  {:<24} {:<20} {} in {} sat, fee {} sat ({} sat/kw)",
            s.channel, s.claim, s.txid, s.value_in_sat, s.fee_sat, s.fee_rate
        );
        if !r.broadcast {
            println!(
                "    {}",
                lightning_signer::bitcoin::consensus::encode::serialize_hex(&s.tx)
            );
        }
    }
    for n in r.notes {
        println!("  {n}");
    }
    for s in r.sent {
        match s {
            Ok(t) => println!("  sent {t}"),
            Err(e) => println!("  NOT sent [{}]: {e}", e.code()),
        }
    }
    for u in r.unsigned {
        println!(
            "  not signed: {} {} {} ({} sat) [{}]: {}",
            u.channel, u.claim, u.outpoint, u.value_sat, u.code, u.reason
        );
    }
    for s in o.plan.shortfalls() {
        println!(
            "  not recovered: {} {} sat {}: {}",
            s.channel, s.value_sat, s.what, s.reason
        );
    }
}
