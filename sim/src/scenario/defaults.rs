//! The serde defaults of scenario fields that are not a type's `Default` (`#[serde(default =
//! "defaults::...")]`): one function per default value.

pub fn tick_ms() -> u64 {
    5
}
pub fn coverage_min_seeds() -> u64 {
    20
}
pub fn prober_every_ms() -> u64 {
    500
}
pub fn prober_max() -> u32 {
    20
}
pub fn prober_find_max() -> u32 {
    3
}
pub fn activate_per_mille() -> u32 {
    250
}
pub fn fire_per_mille() -> u32 {
    50
}
pub fn one() -> u32 {
    1
}
pub fn yes() -> bool {
    true
}
pub fn reservation_ms() -> u64 {
    3000
}
pub fn om_max_in_memory() -> u32 {
    1000
}
pub fn sync_max_age_ms() -> u64 {
    1000
}
pub fn sync_max_buffer() -> u32 {
    20
}
