//! Fuzzes the request parsing layer: query decoding, filters, pagination, JSON bodies and
//! every validator (`mock_server::fuzzing::exercise`). Any panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mock_server::fuzzing::exercise(data);
});
