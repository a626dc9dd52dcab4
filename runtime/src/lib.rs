//! fluxlive
