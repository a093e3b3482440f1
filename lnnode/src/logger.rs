//! LDK's `Logger` onto `tracing`, keeping LDK's channel id and payment hash as fields.

use lightning::util::logger::{Level, Logger, Record};

pub struct TracingLogger;

impl Logger for TracingLogger {
    fn log(&self, record: Record) {
        let channel = record.channel_id.map(|c| c.to_string()).unwrap_or_default();
        let payment = record
            .payment_hash
            .map(|h| h.to_string())
            .unwrap_or_default();
        let module = record.module_path;
        match record.level {
            Level::Gossip | Level::Trace => {
                tracing::trace!(target: "ldk", module, channel_id = %channel, payment_hash = %payment, "{}", record.args)
            }
            Level::Debug => {
                tracing::debug!(target: "ldk", module, channel_id = %channel, payment_hash = %payment, "{}", record.args)
            }
            Level::Info => {
                tracing::info!(target: "ldk", module, channel_id = %channel, payment_hash = %payment, "{}", record.args)
            }
            Level::Warn => {
                tracing::warn!(target: "ldk", module, channel_id = %channel, payment_hash = %payment, "{}", record.args)
            }
            Level::Error => {
                tracing::error!(target: "ldk", module, channel_id = %channel, payment_hash = %payment, "{}", record.args)
            }
        }
    }
}
