//! RESULT keys of the frontier work that every cell carries: the per-size breakdown of a
//! mixed workload and the latency percentiles.

use super::json::Obj;
use super::spec::{size_name, Spec};
use kcore::migrate::folio_bytes;

/// Per folio size of a mixed cell: `{"2M": {"folios": n, "bytes": b, "share_pct": p}, …}`.
pub fn mix_obj(spec: &Spec) -> Obj {
    let mut o = Obj::new();
    if let Some(m) = spec.mix {
        if let Ok(counts) = m.counts(spec.bytes()) {
            for (&(order, pct), &(_, n)) in m.parts().iter().zip(&counts) {
                o = o.obj(
                    &alloc::format!("{}", size_name(order)),
                    Obj::new()
                        .int("folios", n)
                        .int("bytes", n * folio_bytes(order))
                        .int("share_pct", u64::from(pct)),
                );
            }
        }
    }
    o
}

/// `{p50, p99, max}` (µs) of `ns` samples, or `{}` when there are none.
pub fn pct_obj(ns: &[u64], p99: bool) -> Obj {
    let mut v = ns.to_vec();
    match kcore::latency::percentiles(&mut v) {
        Some(p) => {
            let o = Obj::new().num("p50", p.p50 as f64 / 1e3);
            let o = if p99 {
                o.num("p99", p.p99 as f64 / 1e3)
            } else {
                o
            };
            o.num("max", p.max as f64 / 1e3)
        }
        None => Obj::new(),
    }
}
