//! Which CPUs the multi-threaded copy engine runs on: the kernel side of
//! `kcore::placement` (spread / fill / src / dst / list), applied to the topology built
//! at boot. The boot CPU coordinates a migration, so callers normally exclude it.

use kcore::placement::{self, PlacementError, Policy};

/// Why no CPUs were chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceError {
    /// The topology could not be built at boot.
    NoTopology,
    /// The policy could not be satisfied.
    Placement(PlacementError),
}

impl core::fmt::Display for PlaceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoTopology => write!(f, "no CPU topology (see the boot log)"),
            Self::Placement(e) => write!(f, "{e}"),
        }
    }
}

/// Kernel CPU indices for `n` workers copying from `src_node` to `dst_node` under
/// `policy`, never using a CPU in `exclude`.
///
/// # Errors
/// [`PlaceError::NoTopology`] when the topology was not built at boot;
/// [`PlaceError::Placement`] with the policy's reason (zero workers, too few eligible CPUs,
/// a bad CPU list, a node without eligible CPUs) from `kcore::placement::place`.
pub fn cpus_for(
    policy: &Policy,
    n: usize,
    src_node: u32,
    dst_node: u32,
    exclude: &[usize],
) -> Result<alloc::vec::Vec<usize>, PlaceError> {
    let topo = super::topology().ok_or(PlaceError::NoTopology)?;
    placement::place(topo, policy, n, src_node, dst_node, exclude).map_err(PlaceError::Placement)
}
