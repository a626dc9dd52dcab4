//! OpenTelemetry export of fluxlive records
