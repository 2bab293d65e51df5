//! Time, as the target provides it: `std::time` natively, `web-time` in browsers (where
//! `std::time::Instant::now` is unavailable). The sans-IO core takes these `Instant`s as
//! arguments and never reads the clock itself.

pub use std::time::Duration;

#[cfg(not(wasm_browser))]
pub use std::time::Instant;
#[cfg(wasm_browser)]
pub use web_time::Instant;
