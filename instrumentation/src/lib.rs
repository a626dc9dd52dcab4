//! Ring-buffer flight recorder, history and debug hub for fluxlive
