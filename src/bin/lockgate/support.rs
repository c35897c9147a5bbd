//! `lockgate support start|status|stop`: the owner's side of remote support
//! (docs/GATEWAY.md §7). `start` prints the one-time code; the daemon never logs it.

use lockgate::control::{Request, Response};
use serde_json::Value;
use std::time::Duration;

/// The request for `lockgate support start [--valid D]`.
pub fn start(valid: Option<Duration>) -> Request {
    Request::SupportStart {
        valid_s: valid.map(|d| d.as_secs()),
    }
}

/// The text for an answer to a support request, or `None` if it is not one.
pub fn render(response: &Response, request: &Request) -> Option<String> {
    match (response, request) {
        (Response::SupportCode { code, expires_in_s }, _) => Some(format!(
            "support code: {code}\nvalid for {}; give it to the support operator only, \
             it works once\n",
            minutes(*expires_in_s)
        )),
        (Response::SupportStatus { support }, _) => Some(render_status(support)),
        (Response::Ok, Request::SupportStop) => {
            Some("remote support stopped: no code is valid and no session runs\n".into())
        }
        _ => None,
    }
}

fn minutes(s: u64) -> String {
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

fn render_status(s: &Value) -> String {
    let mut out = String::new();
    let enabled = s["enabled"].as_bool().unwrap_or(false);
    out.push_str(&format!(
        "remote support: {}\n",
        if enabled { "enabled" } else { "disabled" }
    ));
    match s.get("code").filter(|c| !c.is_null()) {
        Some(c) => out.push_str(&format!(
            "code:      valid for {}, {} attempt(s) left\n",
            minutes(c["expires_in_s"].as_u64().unwrap_or(0)),
            c["attempts_left"].as_u64().unwrap_or(0)
        )),
        None => out.push_str("code:      none\n"),
    }
    if let Some(h) = s.get("handshake").filter(|h| !h.is_null()) {
        out.push_str(&format!(
            "handshake: {} (session {})\n",
            h["operator"].as_str().unwrap_or("?"),
            h["session"].as_str().unwrap_or("?")
        ));
    }
    match s.get("session").filter(|x| !x.is_null()) {
        Some(x) => out.push_str(&format!(
            "session:   {} by {}, ends in {}\n",
            x["session"].as_str().unwrap_or("?"),
            x["operator"].as_str().unwrap_or("?"),
            minutes(x["expires_in_s"].as_u64().unwrap_or(0))
        )),
        None => out.push_str("session:   none\n"),
    }
    let t = &s["throttle"];
    let failures = t["failures"].as_u64().unwrap_or(0);
    let retry = t["retry_after_s"].as_u64().unwrap_or(0);
    out.push_str(&format!("throttle:  {failures} failed attempt(s)"));
    if retry > 0 {
        out.push_str(&format!(", next attempt in {}", minutes(retry)));
    }
    out.push('\n');
    out
}
