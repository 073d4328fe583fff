//! See docs/DESIGN.md.
