//! The `is_node` fuzz target (being written).
