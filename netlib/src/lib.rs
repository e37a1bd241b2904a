//! netlib (in progress).
