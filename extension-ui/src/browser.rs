//! Small browser helpers: the clock, the page URL, downloads, memory size.

use wasm_bindgen::JsCast;

/// Milliseconds from `performance.now()` (0 where there is none).
pub fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// The page's URL.
pub fn href() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// Bytes of the wasm linear memory.
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map_or(0.0, |m| {
            m.buffer()
                .dyn_into::<js_sys::ArrayBuffer>()
                .map_or(0.0, |b| f64::from(b.byte_length()))
        })
}

/// Errors offering a download.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No window or document (not in a page).
    #[error("no document to download from")]
    NoDocument,
    /// The browser refused to make the blob or link.
    #[error("the browser refused the download: {0}")]
    Refused(String),
}

/// Offers `text` as a file named `name`.
pub fn download(name: &str, text: &str) -> Result<(), DownloadError> {
    let refused = |e: wasm_bindgen::JsValue| DownloadError::Refused(format!("{e:?}"));
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or(DownloadError::NoDocument)?;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/x-ndjson");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(refused)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(refused)?;
    let a = document
        .create_element("a")
        .map_err(refused)?
        .dyn_into::<web_sys::HtmlAnchorElement>()
        .map_err(|_| DownloadError::Refused("not an anchor".into()))?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // Revoke later: revoking at once can cancel the download in some browsers.
    gloo::timers::callback::Timeout::new(10_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}
