//! The conformance runner (see `scripts/conformance.sh`).
