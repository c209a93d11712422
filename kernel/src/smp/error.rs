//! Why CPU bring-up or a TLB shootdown round failed.

use crate::arch::apic::{ApicError, IpiError};
use crate::arch::traps::VectorError;
use crate::mm::frames::FrameError;
use crate::mm::MmError;
use core::fmt;
use kcore::cpuset::CpuSet;
use kcore::pagetable::PtError;

/// Why the boot CPU could not bring up SMP (the kernel then runs on it alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmpError {
    /// The xAPIC register block could not be mapped.
    MapApic(MmError),
    /// The boot CPU's local APIC could not be set up.
    Apic(ApicError),
    /// An interrupt vector the kernel needs is taken or reserved.
    Vector(VectorError),
    /// The boot CPU's APIC ID is not in the MADT.
    BspNotInMadt(u32),
}

impl fmt::Display for SmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmpError::MapApic(e) => write!(f, "mapping the xAPIC: {e}"),
            SmpError::Apic(e) => write!(f, "{e}"),
            SmpError::Vector(e) => write!(f, "{e}"),
            SmpError::BspNotInMadt(id) => write!(f, "boot CPU (apic {id}) is not in the MADT"),
        }
    }
}

/// Why an AP got no stacks (it is then not started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackError {
    /// No block for the stacks on its node or node 0.
    Frames(FrameError),
    /// A guard page could not be unmapped.
    Guard(MmError),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::Frames(e) => write!(f, "{e}"),
            StackError::Guard(e) => write!(f, "guard page: {e}"),
        }
    }
}

/// Why a shootdown round (or its measurement) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShootdownError {
    /// Another round held the lock past the acknowledgement timeout.
    RoundBusy,
    /// A target CPU index the kernel does not know.
    UnknownCpu(usize),
    /// The IPI could not be sent.
    Ipi {
        /// The target CPU.
        cpu: usize,
        /// Why.
        error: IpiError,
    },
    /// These CPUs did not acknowledge in time (kernel indices).
    NoAck(alloc::vec::Vec<usize>),
    /// These CPUs did not load the address space in time.
    NotLoaded {
        /// Missing CPUs (boxed: a set is 128 bytes).
        missing: alloc::boxed::Box<CpuSet>,
        /// CPUs that had it loaded.
        have: alloc::boxed::Box<CpuSet>,
    },
    /// The measurement's page or address space could not be set up.
    Frames(FrameError),
    /// The measurement's page tables refused.
    Tables(PtError),
}

impl fmt::Display for ShootdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShootdownError::RoundBusy => write!(f, "another shootdown round did not end"),
            ShootdownError::UnknownCpu(c) => write!(f, "CPU {c} unknown"),
            ShootdownError::Ipi { cpu, error } => {
                write!(f, "shootdown IPI to CPU {cpu}: {error:?}")
            }
            ShootdownError::NoAck(late) => {
                write!(f, "CPUs {late:?} did not acknowledge the shootdown")
            }
            ShootdownError::NotLoaded { missing, have } => write!(
                f,
                "CPUs {missing} did not load the address space (have {have})"
            ),
            ShootdownError::Frames(e) => write!(f, "{e}"),
            ShootdownError::Tables(e) => write!(f, "{e:?}"),
        }
    }
}
