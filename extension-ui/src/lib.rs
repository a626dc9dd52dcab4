//! The fluxlive DevTools panel (Yew)
