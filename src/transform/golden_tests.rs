//! Golden outputs: what the proxy serves, per mode, for the spec's example
//! response (`input.json`) and for an image with every spec field and odd
//! values (`all-fields.input.json`), under `tests/golden/transform/`.
//!
//! To regenerate after an intended change, run
//! `IMGCACHE_BLESS=1 cargo test --lib golden` and review the diff.

use std::path::PathBuf;

use super::{Mode, transform_image_body};
use crate::config::Config;

const MODES: [Mode; 4] = [Mode::Passthrough, Mode::Strip, Mode::Normalize, Mode::Typed];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/transform")
}

/// The bytes served for `input` in `mode`: the transformed body, or the
/// body as received when the transform says so.
fn served(input: &[u8], mode: Mode) -> Vec<u8> {
    let mut config = Config::defaults().transform;
    config.mode = mode;
    transform_image_body(input, &config).map_or_else(|| input.to_vec(), |body| body.to_vec())
}

/// Compares (or, with `IMGCACHE_BLESS=1`, writes) `<prefix><mode>.json` for
/// every mode.
fn check(input_name: &str, prefix: &str) {
    let dir = golden_dir();
    let input = std::fs::read(dir.join(input_name)).expect("golden input");
    let bless = std::env::var_os("IMGCACHE_BLESS").is_some_and(|v| v == "1");
    for mode in MODES {
        let path = dir.join(format!("{prefix}{}.json", mode.as_str()));
        let got = served(&input, mode);
        if bless {
            std::fs::write(&path, &got).expect("write golden output");
            continue;
        }
        let want = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (IMGCACHE_BLESS=1 writes it)", path.display()));
        assert!(
            got == want,
            "{} differs:\n got: {}\nwant: {}\n(IMGCACHE_BLESS=1 rewrites it)",
            path.display(),
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
}

/// The spec's example response, every mode, byte for byte.
#[test]
fn spec_example_per_mode() {
    check("input.json", "");
}

/// Every field class and odd values, every mode, byte for byte.
#[test]
fn all_fields_per_mode() {
    check("all-fields.input.json", "all-fields.");
}
