//! The file format: serde types for TOML, with a JSON Schema derived from
//! them (`harness schema`, checked in as docs/scenario.schema.json). Every
//! table denies unknown keys. Semantic checks (names exist, exactly one
//! action per step) happen in [`super::Scenario::parse`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::fault::FaultSpec;
use crate::node::{NodeKind, SignerChoice};

mod disaster;
pub use disaster::{
    BackupSpec, RecoverChannelsSpec, RecoverOnchainSpec, ScbShachain, StashSpec, VlsdRecoverSpec,
};

/// A scenario file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, used in reports and test names.
    pub name: String,
    /// What the scenario does and why it matters.
    pub description: String,
    /// Seed for every random choice (preimages, corruption offsets); `--seed` overrides it.
    #[serde(default)]
    pub seed: Option<u64>,
    #[schemars(with = "TopologySpec")]
    pub topology: Spanned<TopologySpec>,
    /// Executed in order; a fault step with `when` is armed and fires later.
    #[serde(default)]
    #[schemars(with = "Vec<StepSpec>")]
    pub steps: Vec<Spanned<StepSpec>>,
    #[serde(default)]
    #[schemars(with = "ExpectSpec")]
    pub expect: Option<Spanned<ExpectSpec>>,
    /// One scenario per combination of these values; `${key}` in the file's
    /// strings stands for the case's value (see docs/scenarios.md).
    #[serde(default)]
    pub matrix: BTreeMap<String, Vec<String>>,
}

/// Just the matrix of a scenario file, read before its cases are rendered.
#[derive(Debug, Deserialize)]
pub struct MatrixOnly {
    #[serde(default = "empty_matrix")]
    pub matrix: Spanned<BTreeMap<String, Vec<String>>>,
}

fn empty_matrix() -> Spanned<BTreeMap<String, Vec<String>>> {
    Spanned::new(0..0, BTreeMap::new())
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Run a regtest bitcoind (needed by nodes, mining and chain checks).
    #[serde(default = "yes")]
    pub bitcoind: bool,
    /// Lightning nodes (lnnode). A node with `signer = "vlsd"` gets its own `vlsd-<name>`.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// vlsd signers with no node (they wait for one); named `vlsd-<name>`.
    #[serde(default)]
    pub signers: Vec<String>,
    /// Channels opened, confirmed and usable before the first step.
    #[serde(default)]
    pub channels: Vec<ChannelSpec>,
    /// Components whose datadir is a small tmpfs, for `disk_full`.
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    /// Sent to each node's wallet before channels open.
    #[serde(default = "default_fund")]
    pub fund_sat: u64,
    /// For a vlsd on the power-cut layer: fsync its seed file once it is
    /// written, as an operator who provisions and backs up the seed has it
    /// on disk. vlsd 1.0.0-rc.1 itself does not fsync the seed; `false`
    /// keeps that behaviour (and a power cut then leaves an empty seed).
    #[serde(default = "yes")]
    pub sync_seed: bool,
    /// Components run supervised: Docker starts one again when it exits
    /// with an error (up to 5 times), as an operator's systemd unit with
    /// `Restart=on-failure` would. Each such restart is in the timeline.
    #[serde(default)]
    pub supervised: Vec<String>,
}

fn default_fund() -> u64 {
    2_000_000
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    pub signer: SignerChoice,
    /// Which Lightning implementation: `lnnode` (LDK, the default) or
    /// `cln` (Core Lightning, built from its release source).
    #[serde(default)]
    pub kind: NodeKind,
    /// Core Lightning nodes only: every feerate lightningd uses, in sat per
    /// 1000 weight units (its `--force-feerates`). Unset, regtest's
    /// lightningd uses the floor, 253 (it has no fee estimates there).
    #[serde(default)]
    pub feerate_perkw: Option<u32>,
    /// vlsd nodes only: let VLS's client defer holder-commitment validation
    /// for channels restored after a restart, as it does upstream, so the
    /// node reproduces the refusal it leads to (docs/findings.md). Off: the
    /// node validates with vlsd at once.
    #[serde(default)]
    pub defer_restored_validation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// Name steps use; default `<from>-<to>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The node that opens and funds it.
    pub from: String,
    pub to: String,
    pub capacity_sat: u64,
    /// Paid from `from` to `to` once usable, so both sides can send.
    #[serde(default)]
    pub push_sat: u64,
}

impl ChannelSpec {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.from, self.to))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    pub component: String,
    pub size_mb: u32,
}

/// One step: exactly one action key, plus an optional `label`, and `when`
/// for a fault that waits for a checkpoint.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub label: Option<String>,
    /// Mine this many blocks.
    pub mine: Option<u64>,
    /// Mine a block at a time until no node has anything left to claim or
    /// sweep (at most this many blocks).
    pub mine_until_settled: Option<u32>,
    /// Send coins from bitcoind's wallet to a node's wallet and confirm them.
    pub fund: Option<FundSpec>,
    pub open_channel: Option<OpenChannelSpec>,
    pub pay: Option<PaySpec>,
    /// Settle the held HTLC of this hold payment.
    pub settle: Option<String>,
    /// Fail the held HTLC of this hold payment back.
    pub fail: Option<String>,
    pub close: Option<CloseSpec>,
    pub force_close: Option<CloseSpec>,
    pub wait_for: Option<WaitSpec>,
    pub fault: Option<FaultSpec>,
    /// Undo every fault in force on this component.
    pub heal: Option<String>,
    /// Undo the faults in force on a stopped component (start it again)
    /// and require it to refuse: it exits instead of becoming ready, and
    /// its log says why. For damage a component must not run on.
    pub refuses_start: Option<RefusesStartSpec>,
    pub snapshot: Option<SnapshotSpec>,
    pub recover: Option<RecoverSpec>,
    /// Run stock vlsd's own recovery (`vlsd --recover-to`, upstream's
    /// answer to a lost node) on this node's vlsd state, stopping vlsd
    /// first if it still runs: from its state it force-closes each channel
    /// and broadcasts the HTLC transactions and delayed sweeps it can, to a
    /// new address of a wallet of the node's own in bitcoind (as
    /// `recover_onchain` does). The step fails when vlsd exits
    /// with an error or logs one; its log is kept in the run's `logs/`.
    pub vlsd_recover: Option<VlsdRecoverSpec>,
    /// The disk is gone: kill this component and erase its datadir. It
    /// stays down for the rest of the run; its funds are what recovery
    /// brings home.
    pub destroy: Option<String>,
    /// Seal a signer's state and seed into an age-encrypted backup in the
    /// run directory, as an operator's backup strategy would.
    pub backup: Option<BackupSpec>,
    /// Run the recovery library on a backup, against the run's bitcoind:
    /// force-close, claim and sweep each channel's funds to a new address
    /// of a wallet of the node's own, mining as the plan needs, until
    /// nothing is left to claim.
    pub recover_onchain: Option<RecoverOnchainSpec>,
    /// Core Lightning's own recovery of a destroyed node: a fresh
    /// lightningd on the same vlsd, fed a static channel backup made from
    /// a backup (`recoverchannel`), whose peers then close the channels.
    pub recover_channels: Option<RecoverChannelsSpec>,
    /// Send everything in a node's on-chain wallet to a new address of a
    /// wallet of its own in bitcoind: proof that the node can spend it.
    pub withdraw: Option<String>,
    /// A cheating counterparty (a node with a local signer) keeps a signed
    /// copy of its current commitment of a channel, to broadcast later.
    pub stash: Option<StashSpec>,
    /// Broadcast a stashed commitment (by its stash name): once the
    /// channel has moved on, a revoked one, which the other end must punish.
    pub broadcast_stash: Option<String>,
    /// The cheater spends its own output of a broadcast stash (by its
    /// name), once its delay has passed: what it takes if nobody punished.
    pub sweep_stash: Option<String>,
    pub assert: Option<AssertSpec>,
    /// Only with `fault`: fire when this checkpoint is reached, not now.
    pub when: Option<TriggerSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefusesStartSpec {
    pub component: String,
    /// Text its log must show after the start (the reason it gave).
    pub log: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FundSpec {
    pub node: String,
    /// One new coin of this many satoshis (a second coin lets a node fund a
    /// channel while its first is tied up in another funding).
    pub sat: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenChannelSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub from: String,
    pub to: String,
    pub capacity_sat: u64,
    /// Mine 6 blocks and wait until usable; `false` returns once the funding
    /// transaction is broadcast (channel pending).
    #[serde(default = "yes")]
    pub confirm: bool,
    /// Wait for the funding broadcast (channel pending); `false` returns as
    /// soon as the opener took the request, with the negotiation under way
    /// (then `confirm` must be `false` and later steps cannot name the
    /// channel).
    #[serde(default = "yes")]
    pub pending: bool,
}

/// What a payment must end as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayOutcome {
    #[default]
    Sent,
    Failed,
    /// Either, but it must end.
    Any,
    /// The payer's node must refuse to send it (its API rejects the payment,
    /// e.g. because its signer's policy refused the invoice).
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaySpec {
    pub from: String,
    pub to: String,
    pub amount_msat: u64,
    #[serde(default = "one")]
    pub count: u32,
    /// Pay a hold invoice under this name and return once the payee holds the HTLC.
    #[serde(default)]
    pub hold: Option<String>,
    #[serde(default)]
    pub outcome: PayOutcome,
    /// Wait for each outcome; `false` sends and moves on (see `wait_for.payments`).
    #[serde(default = "yes")]
    pub wait: bool,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseSpec {
    pub channel: String,
    /// The node that closes; default the channel's opener.
    #[serde(default)]
    pub by: Option<String>,
    /// Wait until the node no longer lists the channel; `false` asks for
    /// the close and moves on, so later steps (faults, heals) overlap it
    /// (`wait_for.event = "channel_closed"` waits for it then).
    #[serde(default = "yes")]
    pub wait: bool,
}

/// Node events a step can wait on or a checkpoint can fire on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ChannelPending,
    ChannelReady,
    ChannelClosed,
    HtlcAccepted,
    PaymentReceived,
    PaymentSent,
    PaymentFailed,
    SpendableOutputs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// With `event`: the node whose event stream is watched.
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub event: Option<EventKind>,
    /// A checkpoint (by name) that must have fired.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// A node whose payments sent with `wait = false` must all have ended.
    #[serde(default)]
    pub payments: Option<String>,
    #[serde(default = "default_wait")]
    pub timeout_secs: u64,
}

fn default_wait() -> u64 {
    90
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// Name for `wait_for.checkpoint` and reports; default the step label.
    #[serde(default)]
    pub name: Option<String>,
    /// Fire on this node event ...
    #[serde(default)]
    pub event: Option<EventKind>,
    /// ... seen on this node.
    #[serde(default)]
    pub node: Option<String>,
    /// Or fire on a signer request of this type in a vlsd log (e.g. `SignRemoteCommitmentTx2`) ...
    #[serde(default)]
    pub signer_request: Option<String>,
    /// ... of this signer (`vlsd-alice`).
    #[serde(default)]
    pub signer: Option<String>,
    /// Or hold `node`'s own signer request of this type (the node must sign
    /// through vlsd) and apply the fault while it is held: exact to the
    /// request, where `signer_request` reads vlsd's log after the fact.
    #[serde(default)]
    pub signer_call: Option<String>,
    /// With `signer_call`: hold it before vlsd sees it (`request`, the
    /// default) or after vlsd answered and before the node sees the answer
    /// (`reply`).
    #[serde(default)]
    pub at: Option<lnnode_api::SignerMoment>,
    /// Or hold the n-th fsync of this file, named by the end of its path
    /// inside the component's datadir (`regtest/redb`, whole components;
    /// `ldk/monitors/` counts any file directly in that directory),
    /// before any of it is durable: a power cut then lands between the
    /// write and its fsync. The component runs on the power-cut layer.
    #[serde(default)]
    pub fsync: Option<String>,
    /// With `fsync`: whose (`vlsd-alice`, `alice`, `bitcoind`).
    #[serde(default)]
    pub component: Option<String>,
    /// The n-th occurrence after the fault is armed (default 1).
    #[serde(default)]
    pub nth: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    /// The node whose vlsd state is taken (its signer `vlsd-<node>`).
    pub signer: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverSpec {
    /// The node whose vlsd is restored.
    pub signer: String,
    /// The snapshot to restore (taken by a `snapshot` step).
    pub from: String,
    /// The recovery error code the restore must fail with (e.g. `E-ROLLBACK`);
    /// the signer is then started again on its own state.
    #[serde(default)]
    pub expect_error: Option<String>,
}

/// Exactly one check per `assert`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertSpec {
    /// bitcoind's block height.
    #[serde(default)]
    pub height: Option<u64>,
    /// bitcoind's own wallet: trusted balance in sat.
    #[serde(default)]
    pub wallet_sat: Option<u64>,
    #[serde(default)]
    pub channels: Option<ChannelsAssert>,
    #[serde(default)]
    pub channel_balance: Option<BalanceAssert>,
    #[serde(default)]
    pub htlcs: Option<CountAssert>,
    #[serde(default)]
    pub payments: Option<PaymentsAssert>,
    #[serde(default)]
    pub running: Option<RunningAssert>,
    #[serde(default)]
    pub log: Option<LogAssert>,
    #[serde(default)]
    pub clock: Option<ClockAssert>,
    #[serde(default)]
    pub file: Option<FileAssert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsAssert {
    pub node: String,
    pub count: usize,
    /// Every listed channel is in this state.
    #[serde(default)]
    pub state: Option<lnnode_api::ChannelState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceAssert {
    pub node: String,
    pub channel: String,
    pub local_msat: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountAssert {
    pub node: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentsAssert {
    pub node: String,
    pub status: lnnode_api::PaymentStatus,
    /// Exactly this many; or use `at_least`.
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub at_least: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunningAssert {
    pub component: String,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogAssert {
    pub component: String,
    pub contains: String,
    /// At least this many occurrences (default 1); 0 means it must not appear.
    #[serde(default)]
    pub count: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockAssert {
    pub component: String,
    /// The component's wall clock minus the host's, within 5 s.
    pub offset_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileAssert {
    pub component: String,
    pub path: String,
    pub exists: bool,
    /// With `exists = true`: the file has exactly this many bytes on disk.
    #[serde(default)]
    pub size: Option<u64>,
}

/// Checks on the whole run besides the steps' own asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Funds are conserved: wallets + channels + claimable equal the block
    /// subsidies mined, within the fee bound (see docs/scenarios.md).
    #[serde(default = "yes")]
    pub conservation: bool,
    /// Per-party accounting (with conservation): each end of each channel
    /// the run opened holds what the run's payments say it should, less
    /// the fees it paid, named by transaction (see docs/scenarios.md).
    #[serde(default = "yes")]
    pub parties: bool,
    /// A penalty (justice) transaction is expected on chain; by default any is a failure.
    #[serde(default)]
    pub penalty: bool,
    /// The known bug this scenario reproduces, as the anchor of its heading
    /// in docs/findings.md. The run must then fail with `signature`, and is
    /// reported as an expected failure (XFAIL); a pass (XPASS) or a failure
    /// without the signature fails the test.
    #[serde(default)]
    pub finding: Option<String>,
    /// How the finding's failure shows; required with `finding`.
    #[serde(default)]
    pub signature: Option<Signature>,
    /// The finding shows in some runs only (it depends on timing, or on
    /// where a database has room): a run that passes is then a pass, not
    /// an XPASS. A failure without the signature still fails.
    #[serde(default)]
    pub intermittent: bool,
    /// Why the figures the run ends with (each party's total) depend on
    /// timing and are left out of the snapshot. Without it they are pinned:
    /// a seed must end with the same satoshis.
    #[serde(default)]
    pub figures_vary: Option<String>,
}

/// One sign that a run failed the way a finding says: exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Text the run's error contains (an error code, or a phrase of it).
    #[serde(default)]
    pub error: Option<String>,
    /// A line of a component's log contains this text.
    #[serde(default)]
    pub log: Option<LogSignature>,
    /// This final check (`conservation`, `parties` or `penalty`) does not pass.
    #[serde(default)]
    pub check: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSignature {
    pub component: String,
    pub contains: String,
}

impl Default for ExpectSpec {
    fn default() -> Self {
        ExpectSpec {
            conservation: true,
            parties: true,
            penalty: false,
            finding: None,
            signature: None,
            intermittent: false,
            figures_vary: None,
        }
    }
}
