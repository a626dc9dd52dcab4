//! Where the panel gets its debug socket from: the page's URL or, inside the
//! extension, a message from the host page. Pure string logic, no browser.

use serde::Deserialize;

/// What the panel should do at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Open this WebSocket URL.
    Connect(String),
    /// Running inside the extension: wait for the host page to say where.
    WaitForHost,
    /// Nothing to connect to: offer importing a session file.
    Offline,
}

/// Options read from the page URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Where to connect.
    pub plan: Plan,
    /// `?bench=N`: synthesize N records in-panel and time them.
    pub bench: Option<usize>,
}

/// A message from the host page (the extension's devtools page relays them).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum HostMessage {
    /// The inspected page has a runtime with the debug channel on.
    Connect {
        /// Debug WebSocket URL (with or without the token in it).
        url: String,
        /// Debug token.
        #[serde(default)]
        token: Option<String>,
    },
    /// The inspected page has no fluxlive runtime.
    NoRuntime,
    /// The page's runtime has its debug channel off.
    ChannelOff,
}

/// The `source` every host message carries.
pub const HOST_SOURCE: &str = "fluxlive-devtools";

/// Parses a host message from its JSON form; `None` for anyone else's message.
pub fn parse_host_message(json: &str) -> Option<HostMessage> {
    #[derive(Deserialize)]
    struct Tagged {
        source: String,
    }
    let tagged: Tagged = serde_json::from_str(json).ok()?;
    if tagged.source != HOST_SOURCE {
        return None;
    }
    serde_json::from_str(json).ok()
}

/// Adds `token` to a WebSocket URL's query unless it already has one.
pub fn with_token(url: &str, token: Option<&str>) -> String {
    match token {
        Some(t) if !t.is_empty() && !url.contains("token=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}token={}", encode(t))
        }
        _ => url.to_owned(),
    }
}

/// Decides what to do from the page's `href`.
pub fn launch(href: &str) -> Launch {
    let (base, query) = href.split_once('?').unwrap_or((href, ""));
    let query = query.split('#').next().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| decode(v))
    };
    let bench = param("bench").and_then(|v| v.parse().ok());
    let token = param("token");
    let plan = if let Some(ws) = param("ws").filter(|w| !w.is_empty()) {
        Plan::Connect(with_token(&ws, token.as_deref()))
    } else if let (Some(token), Some((scheme, rest))) = (token.as_deref(), base.split_once("://")) {
        let host = rest.split('/').next().unwrap_or("");
        let path = &rest[host.len()..];
        let ws_scheme = match scheme {
            "https" => Some("wss"),
            "http" => Some("ws"),
            _ => None,
        };
        match ws_scheme {
            Some(ws) if path.contains("/__live/devtools") && !token.is_empty() => Plan::Connect(
                format!("{ws}://{host}/__live/debug?token={}", encode(token)),
            ),
            _ => Plan::Offline,
        }
    } else if href.starts_with("chrome-extension:") || href.starts_with("moz-extension:") {
        Plan::WaitForHost
    } else {
        Plan::Offline
    };
    Launch { plan, bench }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_ws_param_wins_and_gets_the_token() {
        let l = launch(
            "http://x/panel/index.html?ws=ws%3A%2F%2F127.0.0.1%3A9%2F__live%2Fdebug&token=a%20b",
        );
        assert_eq!(
            l.plan,
            Plan::Connect("ws://127.0.0.1:9/__live/debug?token=a%20b".into())
        );
        assert_eq!(l.bench, None);
    }

    #[test]
    fn served_by_runtime_uses_same_origin() {
        let l = launch("http://127.0.0.1:4000/__live/devtools?token=T0k");
        assert_eq!(
            l.plan,
            Plan::Connect("ws://127.0.0.1:4000/__live/debug?token=T0k".into())
        );
        let l = launch("https://h:1/__live/devtools/index.html?token=T#x");
        assert_eq!(
            l.plan,
            Plan::Connect("wss://h:1/__live/debug?token=T".into())
        );
    }

    #[test]
    fn no_token_or_other_page_is_offline() {
        assert_eq!(
            launch("http://127.0.0.1:4000/__live/devtools").plan,
            Plan::Offline
        );
        assert_eq!(
            launch("http://127.0.0.1:4000/other?token=x").plan,
            Plan::Offline
        );
        assert_eq!(launch("file:///tmp/index.html").plan, Plan::Offline);
    }

    #[test]
    fn extension_page_waits_for_host() {
        assert_eq!(
            launch("chrome-extension://abc/panel/index.html").plan,
            Plan::WaitForHost
        );
        assert_eq!(
            launch("moz-extension://abc/panel/index.html").plan,
            Plan::WaitForHost
        );
    }

    #[test]
    fn bench_param() {
        assert_eq!(
            launch("http://h/__live/devtools?bench=1000000").bench,
            Some(1_000_000)
        );
        assert_eq!(launch("http://h/?bench=abc").bench, None);
    }

    #[test]
    fn host_messages() {
        assert_eq!(
            parse_host_message(
                r#"{"source":"fluxlive-devtools","type":"connect","url":"ws://h/__live/debug","token":"t"}"#
            ),
            Some(HostMessage::Connect {
                url: "ws://h/__live/debug".into(),
                token: Some("t".into())
            })
        );
        assert_eq!(
            parse_host_message(r#"{"source":"fluxlive-devtools","type":"no-runtime"}"#),
            Some(HostMessage::NoRuntime)
        );
        assert_eq!(
            parse_host_message(r#"{"source":"fluxlive-devtools","type":"channel-off"}"#),
            Some(HostMessage::ChannelOff)
        );
        assert_eq!(
            parse_host_message(r#"{"source":"other","type":"no-runtime"}"#),
            None
        );
        assert_eq!(
            parse_host_message(r#"{"source":"fluxlive-devtools","type":"bogus"}"#),
            None
        );
        assert_eq!(parse_host_message("[1]"), None);
    }

    #[test]
    fn with_token_respects_existing_query() {
        assert_eq!(with_token("ws://h/d", Some("t")), "ws://h/d?token=t");
        assert_eq!(
            with_token("ws://h/d?x=1", Some("t")),
            "ws://h/d?x=1&token=t"
        );
        assert_eq!(
            with_token("ws://h/d?token=q", Some("t")),
            "ws://h/d?token=q"
        );
        assert_eq!(with_token("ws://h/d", None), "ws://h/d");
    }
}
