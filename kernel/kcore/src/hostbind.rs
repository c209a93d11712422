//! `host-binding=`: how the runner placed a KVM guest on its host, so every result can
//! say it. The value is `kvm:G-H/G-H...:E[:huge]`: guest node G bound to host node H,
//! E assigned (vfio) DMA engines, `huge` when memory is 2 MiB huge pages; `none` (the
//! default) for TCG or an unbound guest.

use alloc::string::String;
use alloc::vec::Vec;

/// A KVM guest's placement on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// (guest node, host node) pairs.
    pub nodes: Vec<(u32, u32)>,
    /// Real engines assigned with vfio-pci.
    pub engines: u32,
    /// Guest memory is 2 MiB huge pages of the host nodes.
    pub hugepages: bool,
}

/// Why a `host-binding=` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingError {
    /// Not `kvm:...`.
    NotKvm,
    /// A node pair is not `G-H` with numbers.
    BadPair,
    /// The engine count is not a number.
    BadEngines,
    /// A trailing part other than `huge`.
    BadSuffix,
}

impl core::fmt::Display for BindingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NotKvm => "expected none or kvm:G-H/...:ENGINES[:huge]",
            Self::BadPair => "node pairs are GUEST-HOST numbers separated by /",
            Self::BadEngines => "the engine count is not a number",
            Self::BadSuffix => "only ':huge' may follow the engine count",
        })
    }
}

/// Parses the value; `none` is `Ok(None)`.
///
/// # Errors
/// [`BindingError::NotKvm`] when the value is neither `none` nor starts with `kvm:`;
/// [`BindingError::BadPair`] when the node part is missing or a `/`-separated pair is not
/// `G-H` with two `u32` numbers; [`BindingError::BadEngines`] when the engine count is
/// missing or not a `u32`; [`BindingError::BadSuffix`] for anything after the count other
/// than a single `:huge`.
pub fn parse(value: &str) -> Result<Option<Binding>, BindingError> {
    if value == "none" {
        return Ok(None);
    }
    let mut parts = value.split(':');
    if parts.next() != Some("kvm") {
        return Err(BindingError::NotKvm);
    }
    let pairs = parts.next().ok_or(BindingError::BadPair)?;
    let nodes = pairs
        .split('/')
        .map(|p| {
            let (g, h) = p.split_once('-').ok_or(BindingError::BadPair)?;
            Ok((
                g.parse().map_err(|_| BindingError::BadPair)?,
                h.parse().map_err(|_| BindingError::BadPair)?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let engines = parts
        .next()
        .ok_or(BindingError::BadEngines)?
        .parse()
        .map_err(|_| BindingError::BadEngines)?;
    let hugepages = match parts.next() {
        None => false,
        Some("huge") => true,
        Some(_) => return Err(BindingError::BadSuffix),
    };
    if parts.next().is_some() {
        return Err(BindingError::BadSuffix);
    }
    Ok(Some(Binding {
        nodes,
        engines,
        hugepages,
    }))
}

/// `KVM guest, nodes bound to host nodes 0->2 1->3 (2 MiB huge pages), 2 assigned
/// engine(s)`, the same words the runner prints.
pub fn describe(b: &Binding) -> String {
    let pairs: Vec<String> = b
        .nodes
        .iter()
        .map(|(g, h)| alloc::format!("{g}->{h}"))
        .collect();
    alloc::format!(
        "KVM guest, nodes bound to host nodes {}{}, {} assigned engine(s)",
        pairs.join(" "),
        if b.hugepages {
            " (2 MiB huge pages)"
        } else {
            ""
        },
        b.engines
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_to_the_runner_words() {
        let b = parse("kvm:0-2/1-3:2:huge").unwrap().unwrap();
        assert_eq!(b.nodes, [(0, 2), (1, 3)]);
        assert_eq!(
            describe(&b),
            "KVM guest, nodes bound to host nodes 0->2 1->3 (2 MiB huge pages), 2 assigned engine(s)"
        );
        let b = parse("kvm:0-0:0").unwrap().unwrap();
        assert!(!b.hugepages && b.engines == 0);
        assert_eq!(parse("none"), Ok(None));
    }

    #[test]
    fn malformed_values_are_refused() {
        assert_eq!(parse("tcg"), Err(BindingError::NotKvm));
        assert_eq!(parse("kvm:0:1"), Err(BindingError::BadPair));
        assert_eq!(parse("kvm:0-x:1"), Err(BindingError::BadPair));
        assert_eq!(parse("kvm:0-1"), Err(BindingError::BadEngines));
        assert_eq!(parse("kvm:0-1:two"), Err(BindingError::BadEngines));
        assert_eq!(parse("kvm:0-1:1:big"), Err(BindingError::BadSuffix));
        assert_eq!(parse("kvm:0-1:1:huge:x"), Err(BindingError::BadSuffix));
    }
}
