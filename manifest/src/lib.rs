//! Typed browser-extension manifest for the fluxlive DevTools
