//! Markdown tables beyond the seed's: per-folio vs batched pairs, the phase breakdown, and
//! the DMA engines' register traffic. Each returns `None` when the log has nothing for it.
//!
//! Neighbours: `tables.rs` (formatting helpers, seed-layout tables), `markdown.rs` (the
//! document).

use crate::model::{size_label, Cell, Parsed};
use crate::tables::{degraded_note, figure, table};

/// Pairs of per-folio and batched cells at the same coordinates.
pub fn per_folio_table(parsed: &Parsed) -> Option<String> {
    let mut body = Vec::new();
    let mut shown = Vec::new();
    for pf in parsed.cells.iter().filter(|c| c.mode == "per-folio") {
        let Some(b) = parsed.cells.iter().find(|b| {
            b.mode == "batched"
                && b.exp == pf.exp
                && b.engine == pf.engine
                && b.placement == pf.placement
                && b.folio_kib == pf.folio_kib
                && b.folios == pf.folios
                && b.threads == pf.threads
                && b.channels == pf.channels
        }) else {
            continue;
        };
        let ratio = if pf.gbps_mean > 0.0 {
            format!("{:.2}×", b.gbps_mean / pf.gbps_mean)
        } else {
            "—".into()
        };
        body.push(vec![
            pf.exp.clone(),
            pf.engine.clone(),
            size_label(pf.folio_kib),
            pf.folios.to_string(),
            pf.width().to_string(),
            figure(pf),
            figure(b),
            ratio,
        ]);
        shown.extend([pf, b]);
    }
    (!body.is_empty()).then(|| {
        let h = [
            "exp",
            "engine",
            "folio",
            "folios",
            "T/ch",
            "per-folio GB/s",
            "batched GB/s",
            "batched / per-folio",
        ]
        .map(String::from);
        let mut out = table(&h, &body);
        out.extend(degraded_note(shown));
        out
    })
}

/// Share of each phase in the per-repetition time of every cell that reports phases.
pub fn phase_table(parsed: &Parsed) -> Option<String> {
    let mut cells: Vec<&Cell> = parsed
        .cells
        .iter()
        .filter(|c| !c.is_raw() && c.phase_ns.is_some_and(|p| p.total() > 0.0))
        .collect();
    cells.sort_by(|a, b| {
        (&a.exp, &a.engine, &a.mode, a.folio_kib, a.width(), a.folios).cmp(&(
            &b.exp,
            &b.engine,
            &b.mode,
            b.folio_kib,
            b.width(),
            b.folios,
        ))
    });
    let body: Vec<Vec<String>> = cells
        .iter()
        .filter_map(|c| {
            let p = c.phase_ns?;
            let t = p.total();
            let mut row = vec![
                c.exp.clone(),
                c.engine.clone(),
                c.mode.clone(),
                size_label(c.folio_kib),
                c.folios.to_string(),
                c.width().to_string(),
            ];
            row.extend(
                p.named()
                    .iter()
                    .map(|(_, ns)| format!("{:.1}%", 100.0 * ns / t)),
            );
            row.push(format!("{:.1}", t / 1000.0));
            Some(row)
        })
        .collect();
    (!body.is_empty()).then(|| {
        let h = [
            "exp",
            "engine",
            "mode",
            "folio",
            "folios",
            "T/ch",
            "prepare",
            "unmap",
            "copy",
            "remap",
            "total µs/rep",
        ]
        .map(String::from);
        table(&h, &body)
    })
}

/// MMIO counters of DMA cells.
pub fn mmio_table(parsed: &Parsed) -> Option<String> {
    let body: Vec<Vec<String>> = parsed
        .cells
        .iter()
        .filter_map(|c| {
            let m = c.mmio?;
            let per_folio = if c.folios > 0 {
                format!("{:.2}", (m.reads + m.writes) as f64 / c.folios as f64)
            } else {
                "—".into()
            };
            Some(vec![
                c.exp.clone(),
                c.engine.clone(),
                c.mode.clone(),
                size_label(c.folio_kib),
                c.folios.to_string(),
                c.channels.to_string(),
                m.reads.to_string(),
                m.writes.to_string(),
                m.doorbells.to_string(),
                per_folio,
            ])
        })
        .collect();
    (!body.is_empty()).then(|| {
        let h = [
            "exp",
            "engine",
            "mode",
            "folio",
            "folios",
            "ch",
            "reads",
            "writes",
            "doorbells",
            "MMIO ops / folio",
        ]
        .map(String::from);
        table(&h, &body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::one_1a_log as log;

    #[test]
    fn per_folio_pairs_with_batched() {
        let t = per_folio_table(&log("tcg")).unwrap();
        assert!(
            t.contains("| 1a | cpu-mt | 4K | 8 | 1 | 0.430 ± 0.100 | 0.860 ± 0.100 | 2.00× |"),
            "{t}"
        );
    }

    #[test]
    fn phase_shares_add_up() {
        let t = phase_table(&log("tcg")).unwrap();
        assert!(t.contains("| 10.0% | 10.0% | 80.0% | 0.0% |"), "{t}");
        assert!(!t.contains("raw-copy"));
    }
}
