//! Server-side rendering: a page handler mounts instances before the
//! browser connects, returns their HTML, and embeds hydration data; the
//! client then attaches to those same instances (a resumed session) with no
//! second mount round trip and nothing to re-render.

use crate::component::{Component, Render};
use crate::instance::{Factory, MountReply, Seed, Snapshot, TypedFactory};
use crate::live::Live;
use crate::session::Session;
use fluxlive_protocol::app::InstanceState;
use serde::Serialize;
use std::sync::Arc;

/// Why a server-side mount failed.
#[derive(Debug, thiserror::Error)]
pub enum SsrError {
    /// The component type is not registered on this runtime.
    #[error("{0} is not registered on this runtime")]
    NotRegistered(&'static str),
    /// The props did not serialize.
    #[error("{component}: props do not serialize: {reason}")]
    Props {
        /// Component type.
        component: &'static str,
        /// Serializer error.
        reason: String,
    },
    /// The mount itself failed.
    #[error("{0}")]
    Mount(String),
    /// Two instances with one id on a page.
    #[error("instance id `{0}` is already on this page")]
    DuplicateId(String),
}

/// The instances of one server-rendered page, held by a session that the
/// page's client resumes when it connects (within the grace period).
pub struct SsrPage {
    live: Live,
    session: Arc<Session>,
    instances: Vec<InstanceState>,
}

impl Live {
    /// Starts a server-rendered page: mount instances with
    /// [`SsrPage::mount`], put [`SsrPage::hydration`] in the page, and call
    /// `connect()` in the browser: the client attaches to these instances.
    pub fn ssr(&self) -> SsrPage {
        let session = self.rt.new_session();
        // Freed after the grace period unless a client attaches first.
        self.rt
            .schedule_cleanup(session.clone(), session.generation());
        SsrPage {
            live: self.clone(),
            session,
            instances: Vec::new(),
        }
    }
}

impl SsrPage {
    /// Mounts `C` with `props` under `id` and returns its HTML, wrapped in
    /// an element carrying `data-live-id` and `data-live-type`.
    pub async fn mount<C: Component + Render>(
        &mut self,
        id: &str,
        props: impl Serialize,
    ) -> Result<String, SsrError> {
        if !self.live.rt.factories.contains_key(C::NAME) {
            return Err(SsrError::NotRegistered(C::NAME));
        }
        if self.session.contains(id) {
            return Err(SsrError::DuplicateId(id.to_owned()));
        }
        let props = serde_json::to_value(props).map_err(|e| SsrError::Props {
            component: C::NAME,
            reason: e.to_string(),
        })?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = TypedFactory::<C>::new()
            .spawn(
                &self.live.rt,
                Some(self.session.clone()),
                Arc::from(id),
                Seed::Props(props),
                MountReply::Channel(tx),
            )
            .map_err(|r| SsrError::Mount(r.to_string()))?;
        self.session.insert(h.clone());
        let snap: Snapshot = rx
            .await
            .map_err(|_| SsrError::Mount(format!("{} `{id}` stopped while mounting", C::NAME)))?
            .map_err(|e| SsrError::Mount(e.to_string()))?;
        let state: C = serde_json::from_value(snap.full().clone())
            .map_err(|e| SsrError::Mount(format!("{}: state does not round-trip: {e}", C::NAME)))?;
        let html = state.render();
        self.instances.push(snap.into_state(&h));
        Ok(format!(
            r#"<div data-live-id="{}" data-live-type="{}">{html}</div>"#,
            escape_attr(id),
            escape_attr(C::NAME)
        ))
    }

    /// The hydration data: a `<script type="application/json" id="fluxlive-ssr">`
    /// element the client reads on `connect()`.
    pub fn hydration(&self) -> String {
        let data = serde_json::json!({
            "session": self.session.wire_id(),
            "token": self.session.token,
            "instances": self.instances,
        });
        // `</` inside a script element would end it early.
        let json = data.to_string().replace("</", "<\\/");
        format!(r#"<script type="application/json" id="fluxlive-ssr">{json}</script>"#)
    }

    /// The session id the client will resume.
    pub fn session_id(&self) -> String {
        self.session.wire_id()
    }
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
