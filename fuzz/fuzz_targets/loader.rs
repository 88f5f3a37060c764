//! Any bytes through the whole loader (template, YAML, model): errors are
//! fine, panics are not.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let env = BTreeMap::from([("HOME".to_string(), "/root".to_string())]);
    if let Ok(source) = maestro_config::Source::from_bytes("fuzz.yaml".into(), "/nonexistent".into(), data.to_vec()) {
        let _ = maestro_config::load(&source, &env);
    }
});
