//! `bench=frontier` in the report: the copy ceiling measured in the same boot (cells of
//! `frontier-ceiling`) drawn as a flat line on each frontier plot, throughput vs channel
//! count for the byte split, vs batch size with and without the DMA floor, and the p99
//! unmapped window vs batch size.

use crate::model::{Cell, Parsed};
use crate::plots::{key_series, num, Chart, Plot, Series, XKind, GBPS};
use kcore::record::{result as k, Key, Object};

/// `x%` of the copy ceiling of the same boot (`pct_of_ceiling`), with the DMA ceiling's
/// share for DMA cells: `42% (DMA 80%)`; `—` when the run measured no ceiling.
pub fn ceiling_text(c: &Cell) -> String {
    let get = |k| c.get(k).and_then(|v| v.as_f64());
    match (get(k::PCT_OF_CEILING), get(k::PCT_OF_DMA_CEILING)) {
        (Some(cpu), Some(dma)) => format!("{cpu:.0}% (DMA {dma:.0}%)"),
        (Some(cpu), None) => format!("{cpu:.0}%"),
        _ => "—".into(),
    }
}

/// `unmapped_us=p50/p99/max; first_mapped_us=p50/max` of a migration cell that has them.
pub fn latency_text(c: &Cell) -> Option<String> {
    let obj = |k: Key<Object>, keys: &[&str]| {
        let o = c.get(k)?;
        let v: Option<Vec<String>> = keys
            .iter()
            .map(|q| {
                o.get(*q)
                    .and_then(|v| v.as_f64())
                    .map(|x| format!("{x:.1}"))
            })
            .collect();
        Some(format!("{}={}", k.name, v?.join("/")))
    };
    let parts: Vec<String> = [
        obj(k::UNMAPPED_US, &["p50", "p99", "max"]),
        obj(k::FIRST_MAPPED_US, &["p50", "max"]),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `(CPU ceiling, DMA ceiling)`: the best verified CPU and DMA raw copies of the
/// `frontier-ceiling` cells, GB/s.
pub fn ceilings(parsed: &Parsed) -> (Option<f64>, Option<f64>) {
    let best = |dma: bool| {
        parsed
            .cells
            .iter()
            .filter(|c| c.exp == "frontier-ceiling" && c.verified && c.status.is_figure())
            .filter(|c| (c.channels > 0) == dma)
            .map(|c| c.gbps_mean)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    (best(false), best(true))
}

/// A flat series at `y` over the x values of `series`.
fn flat(name: &str, y: f64, series: &[Series]) -> Option<Series> {
    let mut xs: Vec<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    (!xs.is_empty()).then(|| Series {
        name: name.into(),
        rank: 1000,
        points: xs.into_iter().map(|x| (x, y, 0.0)).collect(),
    })
}

fn figure(c: &Cell) -> bool {
    c.status.is_figure()
}

fn with_ceilings(mut series: Vec<Series>, parsed: &Parsed, dma_only: bool) -> Vec<Series> {
    let (cpu, dma) = ceilings(parsed);
    let mut extra = Vec::new();
    if let (Some(c), false) = (cpu, dma_only) {
        extra.extend(flat("CPU copy ceiling", c, &series));
    }
    if let Some(d) = dma {
        extra.extend(flat("DMA copy ceiling", d, &series));
    }
    series.extend(extra);
    series
}

/// The frontier plots this log supports.
pub fn plots(parsed: &Parsed, sfx: &str) -> Vec<Plot> {
    let mut out = Vec::new();
    let split = key_series(
        parsed,
        "frontier-split",
        |c| {
            format!(
                "split {}",
                c.get(k::DMA_SPLIT).and_then(|v| v.as_str()).unwrap_or("?")
            )
        },
        |c| figure(c).then_some((c.channels, c.gbps_mean)),
    );
    if !split.is_empty() {
        out.push(Plot {
            stem: "frontier-split".into(),
            caption: "frontier 3: one 2M folio per batch over N DMA channels, split by folios (rr) vs by bytes; the DMA ceiling of the same boot as a line".into(),
            chart: Chart::Line {
                title: format!("frontier: DMA split by bytes vs rr, throughput vs channels{sfx}"),
                x: XKind::Threads,
                y_desc: GBPS.into(),
                series: with_ceilings(split, parsed, true),
            },
        });
    }
    let minbatch = key_series(
        parsed,
        "frontier-minbatch",
        |c| {
            let floor = num(c, "dma_min_batch").unwrap_or(0.0);
            match (c.engine.as_str(), floor > 0.0) {
                ("dma", true) => format!("dma, floor {:.0} KiB", floor / 1024.0),
                (e, _) => e.to_string(),
            }
        },
        |c| {
            let b = num(c, "batch_pages")? as u64;
            figure(c).then_some((b * 4, c.gbps_mean))
        },
    );
    if !minbatch.is_empty() {
        out.push(Plot {
            stem: "frontier-minbatch".into(),
            caption: "frontier 4: 4K folios, throughput vs batch size: DMA, DMA declining batches below the floor, one CPU; ceilings as lines".into(),
            chart: Chart::Line {
                title: format!("frontier: declined batches, throughput vs batch size{sfx}"),
                x: XKind::FolioSize,
                y_desc: GBPS.into(),
                series: with_ceilings(minbatch, parsed, false),
            },
        });
    }
    let p99 = |c: &Cell| {
        c.get(k::UNMAPPED_US)
            .and_then(|o| o.get("p99"))
            .and_then(|v| v.as_f64())
    };
    let batch_x = |c: &Cell| {
        let b = num(c, "batch_pages")? as u64;
        Some(b.min(c.folios))
    };
    let latency = key_series(
        parsed,
        "frontier-latency",
        |c| c.engine.clone(),
        |c| {
            figure(c).then_some(())?;
            Some((batch_x(c)?, p99(c)?))
        },
    );
    if !latency.is_empty() {
        out.push(Plot {
            stem: "frontier-latency".into(),
            caption: "frontier 6: p99 of each folio's unmapped window vs batch limit (4K folios; the last point is the whole workload)".into(),
            chart: Chart::Line {
                title: format!("frontier: p99 unmapped window vs batch size{sfx}"),
                x: XKind::PerBatch,
                y_desc: "p99 unmapped window (µs)".into(),
                series: latency,
            },
        });
    }
    let tput = key_series(
        parsed,
        "frontier-latency",
        |c| c.engine.clone(),
        |c| figure(c).then_some((batch_x(c)?, c.gbps_mean)),
    );
    if !tput.is_empty() {
        out.push(Plot {
            stem: "frontier-latency-gbps".into(),
            caption: "frontier 6: throughput vs batch limit, the other side of the trade-off; ceilings as lines".into(),
            chart: Chart::Line {
                title: format!("frontier: throughput vs batch size{sfx}"),
                x: XKind::PerBatch,
                y_desc: GBPS.into(),
                series: with_ceilings(tput, parsed, false),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_log;

    const LOG: &str = r#"RESULT {"exp":"frontier-ceiling","engine":"cpu","mode":"raw-copy","folio_kib":2048,"folios":4,"threads":1,"channels":0,"bytes":8388608,"reps":2,"gbps_mean":2.0,"gbps_stdev":0.1,"verified":true,"accel":"tcg","cpu":"t","status":"ok"}
RESULT {"exp":"frontier-ceiling","engine":"dma","mode":"raw-copy","folio_kib":2048,"folios":4,"threads":0,"channels":2,"bytes":8388608,"reps":2,"gbps_mean":5.0,"gbps_stdev":0.1,"verified":true,"accel":"tcg","cpu":"t","status":"ok"}
RESULT {"exp":"frontier-ceiling","engine":"dma","mode":"raw-copy","folio_kib":2048,"folios":4,"threads":0,"channels":1,"bytes":8388608,"reps":2,"gbps_mean":9.0,"gbps_stdev":0.1,"verified":true,"accel":"tcg","cpu":"t","status":"invalid"}
RESULT {"exp":"frontier-split","engine":"dma","mode":"batched","folio_kib":2048,"folios":4,"threads":0,"channels":1,"bytes":8388608,"reps":2,"gbps_mean":0.3,"gbps_stdev":0.0,"verified":true,"accel":"tcg","cpu":"t","status":"ok","dma_split":"bytes"}
RESULT {"exp":"frontier-split","engine":"dma","mode":"batched","folio_kib":2048,"folios":4,"threads":0,"channels":2,"bytes":8388608,"reps":2,"gbps_mean":0.58,"gbps_stdev":0.0,"verified":true,"accel":"tcg","cpu":"t","status":"ok","dma_split":"bytes"}
RESULT {"exp":"frontier-latency","engine":"cpu","mode":"batched","folio_kib":4,"folios":2048,"threads":1,"channels":0,"bytes":8388608,"reps":2,"gbps_mean":1.0,"gbps_stdev":0.0,"verified":true,"accel":"tcg","cpu":"t","status":"ok","batch_pages":1099511627776,"unmapped_us":{"p50":100.0,"p99":900.0,"max":950.0}}
RUN {"cells":6,"failures":0,"status":"ok"}
"#;

    #[test]
    fn ceilings_are_the_best_figures_only() {
        let p = parse_log(LOG.as_bytes());
        // The invalid 9.0 GB/s DMA cell is not a figure of its engine.
        assert_eq!(ceilings(&p), (Some(2.0), Some(5.0)));
    }

    #[test]
    fn split_plot_carries_the_dma_ceiling_and_latency_uses_p99() {
        let p = parse_log(LOG.as_bytes());
        let plots = plots(&p, "");
        let split = plots.iter().find(|x| x.stem == "frontier-split").unwrap();
        let Chart::Line { series, .. } = &split.chart else {
            panic!("line chart")
        };
        assert_eq!(series[0].points, vec![(1, 0.3, 0.0), (2, 0.58, 0.0)]);
        let ceiling = series
            .iter()
            .find(|s| s.name == "DMA copy ceiling")
            .unwrap();
        assert!(ceiling.points.iter().all(|p| p.1 == 5.0));
        let lat = plots.iter().find(|x| x.stem == "frontier-latency").unwrap();
        let Chart::Line { series, .. } = &lat.chart else {
            panic!("line chart")
        };
        // "all" is plotted at the workload's folio count.
        assert_eq!(series[0].points, vec![(2048, 900.0, 0.0)]);
    }
}
