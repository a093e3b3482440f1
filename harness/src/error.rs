//! The harness's one error type. Messages are lower-case, name the component,
//! file or container, and for timeouts say what was awaited and what was last seen.

use std::path::PathBuf;
use std::time::Duration;

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot reach the Docker engine ({reason}); start it (e.g. `systemctl start docker`) or set DOCKER_HOST")]
    DockerUnreachable { reason: String },

    #[error("docker: {op}: {source}")]
    Docker {
        op: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{tool}` is not installed and this process cannot install it; run: {install}")]
    ToolMissing { tool: String, install: String },

    #[error("{what} failed ({status}); last output:\n{tail}")]
    CommandFailed {
        what: String,
        status: String,
        tail: String,
    },

    #[error("{what}: not done after {:.1}s (last: {last})", after.as_secs_f64())]
    Timeout {
        what: String,
        after: Duration,
        last: String,
    },

    #[error("{what}: gave up after {:.1}s: {reason}", after.as_secs_f64())]
    GaveUp {
        what: String,
        after: Duration,
        reason: String,
    },

    #[error("{component}: rpc `{method}`: {reason}")]
    Rpc {
        component: String,
        method: String,
        reason: String,
    },

    #[error("{}: {reason}", path.display())]
    ScenarioFile { path: PathBuf, reason: String },

    #[error("{}:{line}:{column}: {message}", path.display())]
    ScenarioParse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{component}: {reason}")]
    Component { component: String, reason: String },

    #[error("{node}: {path}: {code} ({status}): {message}")]
    NodeApi {
        node: String,
        path: String,
        status: u16,
        /// The node's typed error code, e.g. `invalid_invoice`.
        code: String,
        message: String,
    },

    #[error("assertion failed: {0}")]
    Assertion(String),

    #[error("interrupted (Ctrl-C); run resources removed")]
    Interrupted,
}

impl HarnessError {
    pub(crate) fn docker(op: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let op = op.into();
        move |source| HarnessError::Docker { op, source }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| HarnessError::Io { path, source }
    }

    pub fn component(component: impl Into<String>, reason: impl Into<String>) -> Self {
        HarnessError::Component {
            component: component.into(),
            reason: reason.into(),
        }
    }

    /// True when Docker answered 404 for the object, so a removal can treat it as done.
    pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
        matches!(
            err,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_message_says_what_how_long_and_last() {
        let e = HarnessError::Timeout {
            what: "bitcoind: rpc ready".into(),
            after: Duration::from_millis(30_000),
            last: "connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "bitcoind: rpc ready: not done after 30.0s (last: connection refused)"
        );
    }
}
