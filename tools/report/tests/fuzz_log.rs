//! Property test: the log parser takes any bytes — binary junk, truncated or mangled
//! RESULT lines — without panicking, and accounts for every RESULT-looking line as a
//! cell or a skipped line with a reason.

use proptest::prelude::*;
use report::parse::parse_log;

const GOOD: &str = r#"RESULT {"exp":"1b","engine":"dma","mode":"batched","folio_kib":4,"folios":8,"threads":0,"channels":1,"bytes":32768,"reps":2,"gbps_mean":1.5,"gbps_stdev":0.1,"verified":true,"accel":"tcg","cpu":"x"}"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let p = parse_log(&bytes);
        prop_assert!(p.all_cells().len() + p.skipped.len() <= p.lines.max(1));
    }

    #[test]
    fn mangled_result_lines_are_cells_or_skipped(cut in 0usize..GOOD.len(), flip in 0usize..GOOD.len(), byte in any::<u8>()) {
        let mut line = GOOD.as_bytes()[..cut.max(7)].to_vec();
        if flip < line.len() {
            line[flip] = byte;
        }
        let mut log = b"boot text\r\n".to_vec();
        log.extend_from_slice(&line);
        log.extend_from_slice(b"\r\n");
        log.extend_from_slice(GOOD.as_bytes());
        log.extend_from_slice(b"\n");
        let p = parse_log(&log);
        // The intact line is always a cell; the mangled one is a cell or a reasoned skip.
        prop_assert!(!p.all_cells().is_empty());
        // A line that still starts with the marker is accounted for.
        if line.starts_with(b"RESULT ") {
            prop_assert!(p.all_cells().len() + p.skipped.len() >= 2, "lost line {:?}", String::from_utf8_lossy(&line));
        }
        prop_assert!(p.skipped.iter().all(|s| !s.reason.is_empty()));
    }
}
