//! The `proxy` fuzz target (being written).
