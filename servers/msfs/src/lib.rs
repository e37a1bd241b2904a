//! msfs (in progress).
