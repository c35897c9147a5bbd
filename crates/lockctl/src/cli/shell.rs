//! The support shell's words and pictures, without I/O: one input line to a [`Line`], one
//! answer to text. `lockctl support` (in `cli::support`) does the talking.

use crate::report::time_text;
use lockgate_support::command::MAX_LOG_LINES;
use lockgate_support::{Forbidden, Request, Response, Status};
use lockgate_wire::LockId;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The shell's help text.
pub const HELP: &str = "\
health               the gateway's health: MQTT, Bluetooth adapter, links, spool, counters
links                the paired locks: link up or down, signal (RSSI), last seen, MTU
logs [N]             the last N log lines, info and above (default 100, at most 500)
config               the gateway's configuration, secrets redacted
reconnect <lock>     drop and re-make one lock's link (its id, or a unique start of it)
rescan               restart Bluetooth discovery and retry every link that is down
reset-adapter        power-cycle the gateway's Bluetooth adapter
quit                 end the session (also: exit, end of input)
help                 this list
The gateway refuses anything else a session might try (opening the pairing window, adding or
removing locks, changing the configuration, lock traffic), and logs that it did.
";

/// What one input line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing (blank, or a `#` comment).
    Empty,
    /// Show [`HELP`].
    Help,
    /// End the session.
    Quit,
    /// Send this request.
    Send(Request),
    /// `reconnect` with the start of a lock id: resolve it against `links` first.
    ReconnectPrefix(String),
}

/// Reads one input line; the error says what is wrong, in words.
pub fn parse(line: &str) -> Result<Line, String> {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return Ok(Line::Empty);
    };
    if cmd.starts_with('#') {
        return Ok(Line::Empty);
    }
    let args: Vec<&str> = words.collect();
    let none = |line: Line| match args.is_empty() {
        true => Ok(line),
        false => Err(format!("{cmd} takes no arguments")),
    };
    match cmd {
        "help" | "?" => none(Line::Help),
        "quit" | "exit" => none(Line::Quit),
        "health" => none(Line::Send(Request::Health)),
        "links" => none(Line::Send(Request::Links)),
        "config" => none(Line::Send(Request::Config)),
        "rescan" => none(Line::Send(Request::Rescan)),
        "reset-adapter" => none(Line::Send(Request::ResetAdapter)),
        "logs" => match args.as_slice() {
            [] => Ok(Line::Send(Request::Logs {
                lines: lockgate_support::command::DEFAULT_LOG_LINES,
            })),
            [n] => match n.parse::<u32>() {
                Ok(lines @ 1..=MAX_LOG_LINES) => Ok(Line::Send(Request::Logs { lines })),
                _ => Err(format!("logs N: N is 1 to {MAX_LOG_LINES}")),
            },
            _ => Err("logs takes one number".into()),
        },
        "reconnect" => match args.as_slice() {
            [lock] => match lock.parse::<LockId>() {
                Ok(lock) => Ok(Line::Send(Request::Reconnect { lock })),
                Err(_) if is_id_prefix(lock) => Ok(Line::ReconnectPrefix(lock.to_lowercase())),
                Err(_) => Err(format!(
                    "{lock:?} is not a lock id (16 hex digits, or a start of one)"
                )),
            },
            _ => Err("reconnect takes one lock id (`links` lists them)".into()),
        },
        other => match Forbidden::ALL.into_iter().find(|f| f.name() == other) {
            // Sent on purpose: the gateway refuses it, visibly and in its audit trail.
            Some(f) => Ok(Line::Send(Request::Forbidden(f))),
            None => Err(format!("unknown command {other:?}; `help` lists them")),
        },
    }
}

fn is_id_prefix(text: &str) -> bool {
    (1..16).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// The one lock of `links` (a `links` answer) whose id starts with `prefix`.
pub fn resolve_prefix(links: &Value, prefix: &str) -> Result<LockId, String> {
    let ids: Vec<&str> = links["locks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["id"].as_str())
        .filter(|id| id.starts_with(prefix))
        .collect();
    match ids.as_slice() {
        [id] => id.parse().map_err(|_| format!("the gateway listed {id:?}")),
        [] => Err(format!(
            "no paired lock starts with {prefix}; `links` lists them"
        )),
        _ => Err(format!(
            "{prefix} fits {} locks ({}); give more digits",
            ids.len(),
            ids.join(", ")
        )),
    }
}

/// An answer as one `--json` line's value.
pub fn to_json(command: &str, response: &Response) -> Value {
    let mut v = json!({
        "ok": response.status == Status::Ok,
        "command": command,
        "status": response.status,
    });
    if let Some(data) = &response.data {
        v["data"] = data.clone();
    }
    if let Some(error) = &response.error {
        v["error"] = json!(error);
    }
    v
}

/// An answer as text for people.
pub fn to_text(request: &Request, response: &Response) -> String {
    let data = response.data.clone().unwrap_or(Value::Null);
    match response.status {
        Status::Refused => {
            let why = response.error.as_deref().unwrap_or("refused");
            return format!("{why}\n");
        }
        Status::Error => {
            let why = response.error.as_deref().unwrap_or("no reason given");
            return format!("{} failed: {why}\n", request.name());
        }
        Status::Ok => {}
    }
    match request {
        Request::Links => links_text(&data),
        Request::Logs { .. } => logs_text(&data),
        Request::Health | Request::Config => tree(&data),
        Request::Reconnect { lock } => format!("reconnecting lock {lock}\n"),
        Request::ResetAdapter => "the Bluetooth adapter is being power-cycled; links come \
                                  back over the next seconds (`links`)\n"
            .into(),
        _ => match data.as_object().is_some_and(|o| !o.is_empty()) {
            true => format!("{}: done\n{}", request.name(), tree(&data)),
            false => format!("{}: done\n", request.name()),
        },
    }
}

fn links_text(data: &Value) -> String {
    let locks: Vec<&Value> = data["locks"].as_array().into_iter().flatten().collect();
    if locks.is_empty() {
        return "no paired locks\n".into();
    }
    let mut out = format!(
        "{:<16}  {:<4}  {:>4}  {:<20}  {:>3}  {}\n",
        "LOCK", "LINK", "RSSI", "LAST SEEN", "MTU", "NAME"
    );
    for l in locks {
        let text = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let seen = match l["last_seen"].as_u64() {
            Some(s) => time_text(s.saturating_mul(1000)),
            None => "-".into(),
        };
        let link = match l["connected"].as_bool() {
            Some(true) => "up",
            _ => "down",
        };
        let _ = writeln!(
            out,
            "{:<16}  {:<4}  {:>4}  {:<20}  {:>3}  {}",
            text(&l["id"]),
            link,
            text(&l["rssi"]),
            seen,
            text(&l["mtu"]),
            text(&l["name"]),
        );
    }
    out
}

fn logs_text(data: &Value) -> String {
    let mut out = String::new();
    let omitted = data["omitted"].as_u64().unwrap_or(0);
    if omitted > 0 {
        let _ = writeln!(out, "({omitted} older lines left out to fit one answer)");
    }
    for line in data["lines"].as_array().into_iter().flatten() {
        let time = time_text(line["time"].as_u64().unwrap_or(0).saturating_mul(1000));
        let _ = writeln!(
            out,
            "{time} {:<5} {}: {}",
            line["level"].as_str().unwrap_or("?"),
            line["target"].as_str().unwrap_or("?"),
            line["message"].as_str().unwrap_or(""),
        );
    }
    match out.is_empty() {
        true => "no log lines\n".into(),
        false => out,
    }
}

/// A JSON value as indented `key: value` lines.
pub fn tree(value: &Value) -> String {
    let mut out = String::new();
    tree_into(&mut out, value, 0);
    out
}

fn tree_into(out: &mut String, value: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        tree_into(out, v, depth + 1);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", scalar(v));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Value::Object(m) if m.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_requests_or_say_what_is_wrong() {
        assert_eq!(parse("  ").unwrap(), Line::Empty);
        assert_eq!(parse("# a note").unwrap(), Line::Empty);
        assert_eq!(parse("health").unwrap(), Line::Send(Request::Health));
        assert_eq!(parse("exit").unwrap(), Line::Quit);
        assert_eq!(
            parse("logs 20").unwrap(),
            Line::Send(Request::Logs { lines: 20 })
        );
        assert_eq!(
            parse("logs").unwrap(),
            Line::Send(Request::Logs { lines: 100 })
        );
        assert!(parse("logs 501").unwrap_err().contains("1 to 500"));
        assert!(parse("health now").unwrap_err().contains("no arguments"));
        assert!(parse("unlock").unwrap_err().contains("help"));
        let id: LockId = "4c47000000000001".parse().unwrap();
        assert_eq!(
            parse("reconnect 4c47000000000001").unwrap(),
            Line::Send(Request::Reconnect { lock: id })
        );
        assert_eq!(
            parse("reconnect 4C47").unwrap(),
            Line::ReconnectPrefix("4c47".into())
        );
        assert!(parse("reconnect kitchen").is_err());
        assert_eq!(
            parse("pairing-open").unwrap(),
            Line::Send(Request::Forbidden(Forbidden::PairingOpen))
        );
    }

    #[test]
    fn a_prefix_names_one_lock_or_says_why_not() {
        let links = json!({"locks": [{"id": "4c47000000000001"}, {"id": "4c47000000000002"}]});
        let id = resolve_prefix(&links, "4c47000000000002").unwrap();
        assert_eq!(id.to_string(), "4c47000000000002");
        assert!(resolve_prefix(&links, "4c47")
            .unwrap_err()
            .contains("2 locks"));
        assert!(resolve_prefix(&links, "ff")
            .unwrap_err()
            .contains("no paired lock"));
    }

    #[test]
    fn answers_read_as_text() {
        let links = Response {
            in_reply_to: 1,
            status: Status::Ok,
            data: Some(json!({"locks": [{"id": "4c47000000000001", "name": "front",
                "connected": true, "rssi": -61, "last_seen": 1_700_000_000u64, "mtu": 247}]})),
            error: None,
        };
        let text = to_text(&Request::Links, &links);
        assert!(text.starts_with("LOCK"), "{text}");
        assert!(text.contains("4c47000000000001  up     -61  2023-11-14T22:13:20Z"));
        assert!(text.contains("front"), "{text}");
        let logs = Response {
            data: Some(json!({"omitted": 2, "lines": [{"time": 1_700_000_000u64,
                "level": "WARN", "target": "lockgate::ble", "message": "link lost"}]})),
            ..links.clone()
        };
        let text = to_text(&Request::Logs { lines: 3 }, &logs);
        assert!(text.contains("2 older lines"), "{text}");
        assert!(text.contains("2023-11-14T22:13:20Z WARN  lockgate::ble: link lost"));
        let health = Response {
            data: Some(json!({"mqtt": {"connected": true, "last_error": null}, "uptime_s": 5})),
            ..links.clone()
        };
        let text = to_text(&Request::Health, &health);
        assert_eq!(
            text,
            "mqtt:\n  connected: true\n  last_error: -\nuptime_s: 5\n"
        );
        let refused = Response::refused(4, Forbidden::LockAdd);
        assert_eq!(
            to_text(&Request::Forbidden(Forbidden::LockAdd), &refused),
            format!("{}\n", Forbidden::LockAdd.why())
        );
        let failed = Response::new(5, Err("no such lock".into()));
        let text = to_text(&Request::Rescan, &failed);
        assert_eq!(text, "rescan failed: no such lock\n");
        let json = to_json("rescan", &failed);
        assert_eq!(json["ok"], false);
        assert_eq!(json["status"], "error");
        assert_eq!(json["error"], "no such lock");
    }
}
