//! The `scenario` fuzz target (being written).
