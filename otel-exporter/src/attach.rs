//! [`attach`]: live export of a recorder's records, in one call.

use crate::config::OtelConfig;
use crate::error::Error;
use crate::exporter::OtelExporter;
use fluxlive_instrumentation::{DropSite, Filter, Recorder};
use fluxlive_protocol::record::RecordBody;
use std::sync::Arc;
use std::time::Duration;

/// Pause between two bulk skips while the exporter sheds.
const SHED_PAUSE: Duration = Duration::from_millis(20);

/// A running live export: the exporter plus the task feeding it from the
/// recorder. Call [`shutdown`](Self::shutdown) at exit to flush.
pub struct Attached {
    exporter: Arc<OtelExporter>,
    feed: tokio::task::JoinHandle<()>,
}

/// Exports everything `recorder` records from now on to the collector in
/// `config`. The exporter's own losses come back as `Dropped{site:
/// exporter}` records, so they are visible in the debug channel. Must be
/// called inside a tokio runtime.
pub fn attach(recorder: &Recorder, config: OtelConfig) -> Result<Attached, Error> {
    let exporter = Arc::new(OtelExporter::start(
        config.started_unix_us(recorder.started_unix_us()),
    )?);
    let rec = recorder.clone();
    exporter.on_drop(Box::new(move |count, reason| {
        rec.record_drop(count, DropSite::Exporter, reason)
    }));
    // From now on: replaying the whole history first would mostly overflow
    // the exporter's queue.
    let mut sub = recorder.subscribe(Some(recorder.bounds().next_seq), Filter::default());
    let feed_exporter = exporter.clone();
    let feed = tokio::spawn(async move {
        while sub.ready().await {
            // While the exporter would drop them anyway, skip records unread:
            // building them is most of what a dead or hanging collector
            // would otherwise cost the app.
            if let Some(reason) = feed_exporter.shedding() {
                feed_exporter.shed(sub.skip_to_end(), reason);
                // Shed in bulk: waking at every recorder pass to skip a
                // millisecond of records cost more than the skipping.
                tokio::time::sleep(SHED_PAUSE).await;
                continue;
            }
            while let Some(mut batch) = sub.try_recv() {
                // The exporter's own losses, reported back through the
                // recorder: offering them again would be a feedback loop.
                batch.retain(|r| {
                    !matches!(
                        r.body,
                        RecordBody::Dropped {
                            site: DropSite::Exporter,
                            ..
                        }
                    )
                });
                feed_exporter.offer_owned(batch);
                if feed_exporter.shedding().is_some() {
                    break;
                }
            }
        }
    });
    Ok(Attached { exporter, feed })
}

/// [`attach`] when the `OTEL_EXPORTER_OTLP_*` environment asks for it
/// (an endpoint is set and `OTEL_SDK_DISABLED` is not true); `None` otherwise.
pub fn attach_from_env(recorder: &Recorder) -> Result<Option<Attached>, Error> {
    match OtelConfig::from_env_if_configured()? {
        Some(config) => attach(recorder, config).map(Some),
        None => Ok(None),
    }
}

impl Attached {
    /// The exporter (statistics, flush).
    pub fn exporter(&self) -> &OtelExporter {
        &self.exporter
    }

    /// Stops feeding, flushes what was offered and stops the export thread
    /// (blocking up to the configured shutdown timeout, off the async threads).
    pub async fn shutdown(self) -> Result<(), Error> {
        self.feed.abort();
        let exporter = self.exporter;
        tokio::task::spawn_blocking(move || exporter.shutdown())
            .await
            .map_err(|_| Error::Closed)?
    }
}
