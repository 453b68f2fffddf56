//! The `ors_session` fuzz target (being written).
