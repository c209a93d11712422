//! A tiny JSON object writer for RESULT/RUN lines (no serde in the kernel: the lines
//! are flat objects of strings, integers, floats and booleans, and one level of nesting).

use alloc::string::String;
use core::fmt::Write;
use kcore::record::{Bool, KeyName, Num, Object, Str, UInt, UIntArray};

/// Builds one JSON object.
#[derive(Debug, Default, Clone)]
pub struct Obj {
    out: String,
}

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Self {
            out: String::from("{"),
        }
    }

    fn key<T>(&mut self, k: impl KeyName<T>) {
        let k = k.key_name();
        if self.out.len() > 1 {
            self.out.push(',');
        }
        let _ = write!(self.out, "\"{k}\":");
    }

    /// A string member (escaped).
    pub fn str(mut self, k: impl KeyName<Str>, v: &str) -> Self {
        self.key(k);
        self.out.push('"');
        for c in v.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
        self
    }

    /// An integer member.
    pub fn int(mut self, k: impl KeyName<UInt>, v: u64) -> Self {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    /// A number member (finite; NaN/inf become null, which JSON can carry).
    pub fn num(mut self, k: impl KeyName<Num>, v: f64) -> Self {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.out, "{v:.4}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// A fraction member with 6 decimals (a share that may be far below 1e-4).
    pub fn frac(mut self, k: impl KeyName<Num>, v: f64) -> Self {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.out, "{v:.6}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// An array of integers.
    pub fn ints(mut self, k: impl KeyName<UIntArray>, v: &[u64]) -> Self {
        self.key(k);
        self.out.push('[');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{x}");
        }
        self.out.push(']');
        self
    }

    /// A boolean member.
    pub fn bool(mut self, k: impl KeyName<Bool>, v: bool) -> Self {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// A nested object member.
    pub fn obj(mut self, k: impl KeyName<Object>, v: Obj) -> Self {
        self.key(k);
        self.out.push_str(&v.finish());
        self
    }

    /// The text.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Prints `obj` as a cell's `RESULT {json}` line.
pub fn print_result(obj: Obj) {
    crate::println!("{} {}", kcore::record::RESULT_MARKER, obj.finish());
}
