//! What to answer lightningd's `htlc_accepted` hook for one HTLC, from the
//! hold invoice its payment hash names (if any). Pure: the plugin acts on
//! the answer.

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::record::{Record, State};

/// Blocks before an HTLC's expiry at which a held HTLC is failed back, and
/// below which a new one is refused at once. The payer goes on chain once
/// an HTLC it offered expires (LDK a few blocks after); a fail needs one
/// commitment round and no block, so three blocks leave room for a round
/// that meets a reconnection.
pub const FAIL_BACK_BLOCKS: u32 = 3;

/// The parts of the hook's payload a hold looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Htlc {
    pub short_channel_id: String,
    pub id: u64,
    pub payment_hash: String,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
    /// The blocks left: `cltv_expiry` less lightningd's height.
    pub cltv_expiry_relative: i64,
    /// The onion's: what the payer sends in all its parts.
    pub total_msat: Option<u64>,
    pub payment_secret: Option<String>,
}

impl Htlc {
    pub fn parse(payload: &Value) -> Result<Htlc> {
        let htlc = payload
            .get("htlc")
            .ok_or_else(|| anyhow!("htlc_accepted payload without `htlc`: {payload}"))?;
        let onion = payload.get("onion").unwrap_or(&Value::Null);
        let field = |v: &Value, k: &str| {
            v.get(k)
                .cloned()
                .ok_or_else(|| anyhow!("htlc_accepted payload: `{k}` missing"))
        };
        let u64_of = |v: &Value, k: &str| {
            field(v, k)?
                .as_u64()
                .ok_or_else(|| anyhow!("htlc_accepted payload: `{k}` is not a number"))
        };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(Htlc {
            short_channel_id: text(htlc, "short_channel_id").unwrap_or_default(),
            id: u64_of(htlc, "id")?,
            payment_hash: text(htlc, "payment_hash")
                .ok_or_else(|| anyhow!("htlc_accepted payload: `payment_hash` missing"))?,
            amount_msat: u64_of(htlc, "amount_msat")?,
            cltv_expiry: u32::try_from(u64_of(htlc, "cltv_expiry")?)?,
            cltv_expiry_relative: field(htlc, "cltv_expiry_relative")?.as_i64().ok_or_else(
                || anyhow!("htlc_accepted payload: `cltv_expiry_relative` is not a number"),
            )?,
            total_msat: onion.get("total_msat").and_then(Value::as_u64),
            payment_secret: text(onion, "payment_secret"),
        })
    }

    /// lightningd's height when it offered the hook this HTLC.
    pub fn height(&self) -> u32 {
        let h = i64::from(self.cltv_expiry) - self.cltv_expiry_relative;
        u32::try_from(h.max(0)).unwrap_or(u32::MAX)
    }

    /// BOLT 4's `incorrect_or_unknown_payment_details` with this HTLC's
    /// amount and `height`: the one failure a final node gives for every
    /// reason, so a prober learns nothing.
    pub fn unknown_details(&self, height: u32) -> Answer {
        const PERM: u16 = 0x4000;
        let mut msg = (PERM | 15).to_be_bytes().to_vec();
        msg.extend(self.amount_msat.to_be_bytes());
        msg.extend(height.to_be_bytes());
        Answer::Fail(hex::encode(msg))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Not a hold invoice's: lightningd's own invoices decide.
    Continue,
    /// Keep it until the invoice is settled or cancelled.
    Hold,
    Resolve(String),
    /// A BOLT 4 failure message, hex.
    Fail(String),
}

impl Answer {
    /// The hook's reply; `Hold` has none yet.
    pub fn to_reply(&self) -> Option<Value> {
        match self {
            Answer::Continue => Some(json!({"result": "continue"})),
            Answer::Hold => None,
            Answer::Resolve(preimage) => {
                Some(json!({"result": "resolve", "payment_key": preimage}))
            }
            Answer::Fail(msg) => Some(json!({"result": "fail", "failure_message": msg})),
        }
    }
}

/// The answer for `htlc` given its invoice's `record`, if it has one.
pub fn decide(record: Option<&Record>, htlc: &Htlc) -> Answer {
    let Some(record) = record else {
        return Answer::Continue;
    };
    let refuse = htlc.unknown_details(htlc.height());
    if htlc.payment_secret.as_deref() != Some(record.payment_secret.as_str()) {
        return refuse;
    }
    if htlc.total_msat.unwrap_or(htlc.amount_msat) < record.amount_msat {
        return refuse;
    }
    match &record.state {
        State::Settled { preimage } => Answer::Resolve(preimage.clone()),
        State::Cancelled => refuse,
        State::Open if htlc.cltv_expiry_relative <= i64::from(FAIL_BACK_BLOCKS) => refuse,
        State::Open => Answer::Hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Value {
        json!({
            "onion": {"payload": "00", "type": "tlv", "forward_msat": 50_000_000u64,
                      "outgoing_cltv_value": 130, "total_msat": 50_000_000u64,
                      "payment_secret": "99"},
            "htlc": {"short_channel_id": "103x1x0", "id": 4, "amount_msat": 50_000_000u64,
                     "cltv_expiry": 130, "cltv_expiry_relative": 20, "payment_hash": "aa"}
        })
    }

    fn record(state: State) -> Record {
        Record {
            bolt11: "lnbcrt".to_string(),
            amount_msat: 50_000_000,
            payment_secret: "99".to_string(),
            created_at: 0,
            state,
        }
    }

    #[test]
    fn reads_the_payload() {
        let h = Htlc::parse(&payload()).unwrap();
        assert_eq!(h.short_channel_id, "103x1x0");
        assert_eq!(h.id, 4);
        assert_eq!(h.payment_hash, "aa");
        assert_eq!(h.height(), 110);
        assert_eq!(h.total_msat, Some(50_000_000));
        assert_eq!(h.payment_secret.as_deref(), Some("99"));
    }

    #[test]
    fn a_payload_without_its_htlc_is_an_error_naming_it() {
        let err = Htlc::parse(&json!({"onion": {}})).unwrap_err().to_string();
        assert!(err.contains("without `htlc`"), "{err}");
        let mut p = payload();
        p["htlc"]["amount_msat"] = json!("lots");
        let err = Htlc::parse(&p).unwrap_err().to_string();
        assert!(err.contains("`amount_msat` is not a number"), "{err}");
    }

    #[test]
    fn others_invoices_are_lightningds() {
        let h = Htlc::parse(&payload()).unwrap();
        assert_eq!(decide(None, &h), Answer::Continue);
    }

    #[test]
    fn an_open_invoice_holds_and_a_settled_one_claims() {
        let h = Htlc::parse(&payload()).unwrap();
        assert_eq!(decide(Some(&record(State::Open)), &h), Answer::Hold);
        let settled = State::Settled {
            preimage: "cc".to_string(),
        };
        assert_eq!(
            decide(Some(&record(settled)), &h),
            Answer::Resolve("cc".to_string())
        );
    }

    #[test]
    fn refusals_are_all_unknown_details_with_amount_and_height() {
        let h = Htlc::parse(&payload()).unwrap();
        // 0x400f, 50,000,000 msat, height 110.
        let want = Answer::Fail("400f0000000002faf0800000006e".to_string());
        assert_eq!(decide(Some(&record(State::Cancelled)), &h), want);
        let mut wrong_secret = h.clone();
        wrong_secret.payment_secret = Some("98".to_string());
        assert_eq!(decide(Some(&record(State::Open)), &wrong_secret), want);
        let mut short = h.clone();
        short.total_msat = Some(49_999_999);
        assert_eq!(decide(Some(&record(State::Open)), &short), want);
        let mut late = h;
        late.cltv_expiry_relative = i64::from(FAIL_BACK_BLOCKS);
        late.cltv_expiry = 110 + FAIL_BACK_BLOCKS;
        assert_eq!(
            decide(Some(&record(State::Open)), &late),
            late.unknown_details(110)
        );
    }

    #[test]
    fn replies_as_the_hook_expects() {
        assert_eq!(Answer::Hold.to_reply(), None);
        assert_eq!(
            Answer::Resolve("cc".to_string()).to_reply(),
            Some(json!({"result": "resolve", "payment_key": "cc"}))
        );
    }
}
