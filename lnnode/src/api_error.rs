//! The admin API's typed errors: each has a stable code and an HTTP status,
//! and is answered as `{"error": {"code", "message"}}`. Operations deeper
//! in the node raise them through `anyhow` and the API recovers them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid invoice: {0}")]
    InvalidInvoice(String),
    #[error("unknown peer: {0}")]
    UnknownPeer(String),
    #[error("peer unreachable: {0}")]
    PeerUnreachable(String),
    #[error("unknown channel: {0}")]
    UnknownChannel(String),
    #[error("unknown payment: {0}")]
    UnknownPayment(String),

    #[error("no route or not enough outbound liquidity: {0}")]
    NoRoute(String),
    #[error("insufficient on-chain funds: {0}")]
    InsufficientFunds(String),
    #[error("the signer refused: {0}")]
    SignerRefused(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidInvoice(_) => "invalid_invoice",
            ApiError::UnknownPeer(_) => "unknown_peer",
            ApiError::PeerUnreachable(_) => "peer_unreachable",
            ApiError::UnknownChannel(_) => "unknown_channel",
            ApiError::UnknownPayment(_) => "unknown_payment",

            ApiError::NoRoute(_) => "no_route",
            ApiError::InsufficientFunds(_) => "insufficient_funds",
            ApiError::SignerRefused(_) => "signer_refused",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidInvoice(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownPeer(_)
            | ApiError::UnknownChannel(_)
            | ApiError::UnknownPayment(_) => StatusCode::NOT_FOUND,
            ApiError::PeerUnreachable(_) => StatusCode::BAD_GATEWAY,
            ApiError::NoRoute(_) | ApiError::InsufficientFunds(_) => StatusCode::CONFLICT,
            ApiError::SignerRefused(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = lnnode_api::ErrorBody {
            error: lnnode_api::ErrorDetail {
                code: self.code().to_string(),
                message: self.to_string(),
            },
        };
        (self.status(), Json(body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<ApiError>() {
            Ok(api) => api,
            Err(e) => ApiError::Internal(format!("{e:#}")),
        }
    }
}
