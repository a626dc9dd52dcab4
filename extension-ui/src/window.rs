//! Which rows of a long list to draw, for a scroll position.
//!
//! Browsers cap an element's height (Firefox near 17.9 million px), so past
//! [`MAX_SCROLL_PX`] the scroll range is scaled onto the list: the scrollbar
//! still spans every row and each row is still drawn at full height.

/// Tallest scroll spacer the list creates, px.
pub const MAX_SCROLL_PX: f64 = 8_000_000.0;

/// The slice of rows to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// First row index drawn.
    pub first: usize,
    /// Rows drawn.
    pub count: usize,
    /// Top of the first drawn row inside the scroll content, px.
    pub top_px: f64,
    /// Height of the scroll spacer, px.
    pub total_px: f64,
}

/// Rows to draw for a list of `n` rows of `row_h` px in a viewport `view_h`
/// px tall scrolled to `scroll_top`, with `overscan` extra rows below.
pub fn window(n: usize, row_h: f64, view_h: f64, scroll_top: f64, overscan: usize) -> Window {
    let row_h = row_h.max(1.0);
    let content = n as f64 * row_h;
    let total = content.min(MAX_SCROLL_PX);
    let scroll_max = (total - view_h).max(0.0);
    let content_max = (content - view_h).max(0.0);
    let scroll_top = scroll_top.clamp(0.0, scroll_max);
    let virtual_top = if content <= MAX_SCROLL_PX {
        scroll_top
    } else if scroll_max > 0.0 {
        scroll_top / scroll_max * content_max
    } else {
        0.0
    };
    let first = ((virtual_top / row_h).floor() as usize).min(n.saturating_sub(1));
    let visible = (view_h / row_h).ceil() as usize + 1;
    let count = (visible + overscan).min(n - first.min(n));
    let top_px = scroll_top - (virtual_top - first as f64 * row_h);
    Window {
        first,
        count,
        top_px,
        total_px: total,
    }
}

/// The scroll position that shows row `index` at the top.
pub fn scroll_for(n: usize, row_h: f64, view_h: f64, index: usize) -> f64 {
    let row_h = row_h.max(1.0);
    let content = n as f64 * row_h;
    let total = content.min(MAX_SCROLL_PX);
    let scroll_max = (total - view_h).max(0.0);
    let content_max = (content - view_h).max(0.0);
    if content_max <= 0.0 {
        return 0.0;
    }
    ((index as f64 * row_h) / content_max * scroll_max).min(scroll_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_list_draws_everything_from_the_top() {
        let w = window(5, 20.0, 400.0, 0.0, 5);
        assert_eq!((w.first, w.count), (0, 5));
        assert_eq!(w.top_px, 0.0);
        assert_eq!(w.total_px, 100.0);
    }

    #[test]
    fn unscaled_list_maps_scroll_to_rows() {
        let w = window(1000, 20.0, 200.0, 400.0, 2);
        assert_eq!(w.first, 20);
        assert_eq!(w.count, 11 + 2);
        assert_eq!(w.top_px, 400.0);
        assert_eq!(w.total_px, 20_000.0);
    }

    #[test]
    fn million_rows_are_scaled_and_reach_the_last_row() {
        let n = 1_000_000;
        let top = window(n, 20.0, 600.0, 0.0, 0);
        assert_eq!(top.first, 0);
        assert_eq!(top.total_px, MAX_SCROLL_PX);
        let bottom = window(n, 20.0, 600.0, MAX_SCROLL_PX, 0);
        assert_eq!(bottom.first + bottom.count, n);
        let mid = window(n, 20.0, 600.0, (MAX_SCROLL_PX - 600.0) / 2.0, 0);
        assert!((mid.first as i64 - 499_985).abs() < 5, "{}", mid.first);
        // the first drawn row sits within one row of the viewport top
        let s = (MAX_SCROLL_PX - 600.0) / 2.0;
        assert!(mid.top_px <= s && mid.top_px > s - 20.0);
    }

    #[test]
    fn scroll_for_inverts_window() {
        for n in [50usize, 10_000, 1_000_000] {
            for idx in [0usize, n / 3, n - 40] {
                let s = scroll_for(n, 20.0, 600.0, idx);
                let w = window(n, 20.0, 600.0, s, 0);
                assert!(
                    (w.first as i64 - idx as i64).abs() <= 1,
                    "n={n} idx={idx} got {}",
                    w.first
                );
            }
        }
    }

    #[test]
    fn empty_list_draws_nothing() {
        let w = window(0, 20.0, 600.0, 100.0, 5);
        assert_eq!(w.count, 0);
    }
}
