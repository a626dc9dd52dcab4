//! The demo's components.

use fluxlive::{live_component, Ctx, Live, Render};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A counter with a step and a label.
#[derive(Serialize, Deserialize, Default, Live)]
pub struct Counter {
    count: i64,
    step: i64,
    label: String,
    /// Where `reset` goes back to.
    #[live(server_only)]
    #[serde(default)]
    start: i64,
    /// Who did what: kept on the server, never sent to the page.
    #[live(server_only)]
    #[serde(default)]
    audit: Vec<String>,
}

/// Props of [`Counter`].
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CounterProps {
    start: i64,
    step: Option<i64>,
    label: Option<String>,
}

/// What `Counter::fail` returns.
#[derive(Debug, thiserror::Error, Serialize)]
#[error("the counter refuses: {reason}")]
pub struct Refusal {
    reason: String,
}

#[live_component]
impl Counter {
    fn mount(props: CounterProps) -> Self {
        Counter {
            count: props.start,
            start: props.start,
            step: props.step.unwrap_or(1),
            label: props.label.unwrap_or_else(|| "Counter".to_owned()),
            audit: Vec::new(),
        }
    }

    #[action]
    fn increment(&mut self, ctx: &mut Ctx) {
        self.count += self.step;
        self.note("increment");
        ctx.emit("count-changed", json!({ "count": self.count }));
    }

    #[action]
    fn decrement(&mut self) {
        self.count -= self.step;
        self.note("decrement");
    }

    #[action]
    fn add(&mut self, n: i64) -> i64 {
        self.count += n;
        self.note("add");
        self.count
    }

    /// Back to the mounted value.
    #[action]
    fn reset(&mut self) {
        self.count = self.start;
        self.note("reset");
    }

    /// Always fails, to show an action error (state unchanged).
    #[action]
    fn fail(&mut self) -> Result<(), Refusal> {
        self.count += 1000;
        Err(Refusal {
            reason: "fail() always fails".into(),
        })
    }

    /// Always panics, to show that the state rolls back and the server lives on.
    #[action]
    fn explode(&mut self) {
        self.count = -1;
        panic!("explode() was called");
    }
}

impl Counter {
    fn note(&mut self, what: &str) {
        // Bounded: server-only does not mean unbounded.
        if self.audit.len() >= 32 {
            self.audit.remove(0);
        }
        self.audit.push(what.to_owned());
    }
}

/// One todo item.
#[derive(Serialize, Deserialize, Clone)]
pub struct Todo {
    id: u64,
    text: String,
    done: bool,
}

/// A todo list.
#[derive(Serialize, Deserialize, Default, Live)]
pub struct TodoList {
    title: String,
    items: Vec<Todo>,
    next_id: u64,
}

/// Props of [`TodoList`].
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TodoProps {
    title: Option<String>,
}

/// Why a todo could not be added or found.
#[derive(Debug, thiserror::Error, Serialize)]
#[serde(tag = "field")]
pub enum TodoError {
    /// Bad text.
    #[error("{message}")]
    #[serde(rename = "text")]
    Text {
        /// What is wrong with it.
        message: String,
    },
    /// No such item.
    #[error("no todo with id {id}")]
    #[serde(rename = "id")]
    NoSuchItem {
        /// The id asked for.
        id: u64,
    },
}

const MAX_TODO: usize = 200;

#[live_component]
impl TodoList {
    fn mount(props: TodoProps) -> Self {
        TodoList {
            title: props.title.unwrap_or_else(|| "Todos".to_owned()),
            items: Vec::new(),
            next_id: 1,
        }
    }

    #[action]
    fn add(&mut self, text: String) -> Result<u64, TodoError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TodoError::Text {
                message: "a todo needs some text".into(),
            });
        }
        if text.chars().count() > MAX_TODO {
            return Err(TodoError::Text {
                message: format!("a todo is at most {MAX_TODO} characters"),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.items.push(Todo {
            id,
            text: text.to_owned(),
            done: false,
        });
        Ok(id)
    }

    #[action]
    fn toggle(&mut self, id: u64) -> Result<bool, TodoError> {
        let item = self
            .items
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(TodoError::NoSuchItem { id })?;
        item.done = !item.done;
        Ok(item.done)
    }

    #[action]
    fn remove(&mut self, id: u64) -> Result<(), TodoError> {
        let before = self.items.len();
        self.items.retain(|t| t.id != id);
        if self.items.len() == before {
            return Err(TodoError::NoSuchItem { id });
        }
        Ok(())
    }

    #[action]
    fn clear_done(&mut self) -> usize {
        let before = self.items.len();
        self.items.retain(|t| !t.done);
        before - self.items.len()
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Server-side HTML, with the same DOM contract the page script uses
/// (`[data-role=count]`, `[data-action=…]`), so the client attaches to it.
impl Render for Counter {
    fn render(&self) -> String {
        format!(
            r#"<header class="card-head"><h2 data-role="label">{}</h2></header><p class="count" data-role="count">{}</p><div class="buttons"><button data-action="decrement">−</button><button data-action="increment">+</button></div>"#,
            escape_html(&self.label),
            self.count
        )
    }
}

/// One chat message.
#[derive(Serialize, Deserialize, Clone)]
pub struct Message {
    author: String,
    text: String,
}

/// A chat room: shared, so every page that mounts `Chat` with the same id
/// (the room name) sees and changes this one instance.
#[derive(Serialize, Deserialize, Default, Live)]
pub struct Chat {
    messages: Vec<Message>,
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct ChatError {
    /// The argument at fault (`author` or `text`).
    field: &'static str,
    /// What is wrong with it.
    message: String,
}

const MAX_AUTHOR: usize = 40;
const MAX_MESSAGE: usize = 500;
/// A room keeps its latest messages only: shared state must stay bounded.
const KEEP_MESSAGES: usize = 200;

fn checked(field: &'static str, value: &str, max: usize) -> Result<String, ChatError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ChatError {
            field,
            message: format!("{field} must not be empty"),
        });
    }
    if v.chars().count() > max {
        return Err(ChatError {
            field,
            message: format!("{field} is at most {max} characters"),
        });
    }
    Ok(v.to_owned())
}

#[live_component(shared)]
impl Chat {
    /// Adds a message; returns how many messages the room holds.
    #[action]
    fn post(&mut self, author: String, text: String) -> Result<usize, ChatError> {
        let author = checked("author", &author, MAX_AUTHOR)?;
        let text = checked("text", &text, MAX_MESSAGE)?;
        if self.messages.len() >= KEEP_MESSAGES {
            self.messages.remove(0);
        }
        self.messages.push(Message { author, text });
        Ok(self.messages.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chat_post_trims_validates_and_keeps_the_room_bounded() {
        let mut chat = Chat::default();
        assert_eq!(chat.post("  ann ".into(), " hi ".into()).unwrap(), 1);
        assert_eq!(chat.messages[0].author, "ann");
        assert_eq!(chat.messages[0].text, "hi");
        let e = chat.post("ann".into(), "   ".into()).unwrap_err();
        assert_eq!(e.field, "text");
        let e = chat
            .post("x".repeat(MAX_AUTHOR + 1), "ok".into())
            .unwrap_err();
        assert_eq!(e.field, "author");
        for i in 0..KEEP_MESSAGES + 5 {
            chat.post("bot".into(), format!("m{i}")).unwrap();
        }
        assert_eq!(chat.messages.len(), KEEP_MESSAGES);
        assert_eq!(
            chat.messages.last().unwrap().text,
            format!("m{}", KEEP_MESSAGES + 4)
        );
    }

    #[test]
    fn counter_html_escapes_the_label_and_keeps_the_dom_contract() {
        let c = Counter {
            count: 7,
            step: 1,
            label: "<b>&\"x\"".into(),
            ..Counter::default()
        };
        let html = c.render();
        assert!(html.contains(r#"data-role="count">7<"#));
        assert!(html.contains("&lt;b&gt;&amp;&quot;x&quot;"));
        assert!(html.contains(r#"data-action="increment""#));
        assert!(html.contains(r#"data-action="decrement""#));
    }
}
