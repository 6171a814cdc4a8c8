//! `WS /v1/stream`: quotes for everyone; account events only for the account's own customer
//! (and for admins). Items are published only once durable. A subscriber that falls more than
//! [`STREAM_BUFFER`](crate::trading::sequencer::STREAM_BUFFER) items behind is closed with
//! reason `lagged` (it should reconnect and re-read its account).
//!
//! Messages (JSON text): `{"type":"quote", ...QuoteView}` and
//! `{"type":"event","account_id":N,"event":{"kind":"order_filled",...}}` (see
//! [`event_view`](crate::trading::sequencer::event_view): symbols, decimal prices, money in the
//! account's currency).

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use tokio::sync::broadcast;

use crate::auth::Caller;
use crate::trading::error::ApiError;
use crate::trading::extract::Auth;
use crate::trading::sequencer::StreamItem;
use crate::trading::serve::AppState;

/// Most stream subscribers at once; more get 503 `too_many_subscribers`.
pub const SUBSCRIBERS_MAX: usize = 4_096;

pub async fn stream(
    State(state): State<AppState>,
    Auth(caller): Auth,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let sender = &state.sequencer()?.stream;
    if sender.receiver_count() >= SUBSCRIBERS_MAX {
        return Err(ApiError::unavailable(
            "too_many_subscribers",
            format!("the stream has {SUBSCRIBERS_MAX} subscribers; retry later"),
        ));
    }
    let receiver = sender.subscribe();
    Ok(upgrade.on_upgrade(move |socket| forward(socket, receiver, caller)))
}

fn visible(item: &StreamItem, caller: Caller) -> Option<String> {
    match item {
        StreamItem::Quote(quote) => {
            let mut value = serde_json::to_value(quote).ok()?;
            value
                .as_object_mut()?
                .insert("type".to_owned(), json!("quote"));
            Some(value.to_string())
        }
        StreamItem::Account { account, event } => {
            let allowed = match caller {
                Caller::Admin => true,
                Caller::Customer(own) => own == *account,
                Caller::Feed => false,
            };
            allowed.then(|| {
                json!({"type": "event", "account_id": account.0, "event": event}).to_string()
            })
        }
    }
}

async fn forward(
    mut socket: WebSocket,
    mut receiver: broadcast::Receiver<Arc<StreamItem>>,
    caller: Caller,
) {
    loop {
        tokio::select! {
            item = receiver.recv() => match item {
                Ok(item) => {
                    if let Some(text) = visible(&item, caller) {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let frame = CloseFrame { code: 1008, reason: "lagged".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Pings are answered by axum; anything else from the client is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}
