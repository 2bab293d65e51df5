//! Defines the `wasm_browser` cfg alias used by the single backend switch point.
use cfg_aliases::cfg_aliases;

fn main() {
    cfg_aliases! {
        wasm_browser: { all(target_family = "wasm", target_os = "unknown") },
        // The native backend. Fuzzing builds (`--cfg fuzzing`, set by cargo-fuzz) leave it out:
        // the fuzz targets exercise the sans-IO core only, and skip compiling webrtc-rs.
        native: { all(not(target_family = "wasm"), not(fuzzing)) },
    }
}
