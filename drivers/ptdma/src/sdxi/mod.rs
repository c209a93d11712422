//! SNIA SDXI 1.0 (Smart Data Accelerator Interface) copy driver, from
//! `shared/reference/sdxi-facts.md` (reconstructed from AMD's Linux driver; the spec text
//! was not available, and no SDXI silicon has run this driver).
//!
//! Shape: an [`SdxiFunction`] (one PCI function of class 0x120100: BAR 0 registers, BAR 2
//! doorbells) is activated once (§6.1: context tables, admin context 0, error log); each
//! [`SdxiChannel`] is one client context (ids 1..) started through the admin ring (§6.2) and
//! implements [`crate::DmaChannel`], so `ChannelSet` and the kernel's registry drive it like
//! a PTDMA or AE4DMA queue. Batches: copies + one fenced NOP with the CST_BLK, one doorbell
//! (§6.3); polled completion with a deadline (§6.4); errors decoded from the error log (§7)
//! into [`SdxiError`]; recovery by stopping and restarting the context (§6.5).
//!
//! Decisions on UNSURE points: CST_BLK signal armed at 1 (clear and decrement agree);
//! read_index never used for completion or ring space (fetch and completion readings agree);
//! no DSC_CXT_UPD after publishing a context (AMD v3 behaviour; the function is started
//! with the tables already in place and each client context is published before its
//! DSC_CXT_START); CTL2 copies CAP1; error log of 64 entries with ERR_CFG.sz = 1.

pub mod channel;
pub mod context;
pub mod desc;
pub mod error;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod function;
pub mod regs;

pub use channel::{ChannelConfig, SdxiChannel, SharedFunction};
pub use error::{BringUpError, ErrorLogEntry, SdxiError};
pub use function::{FunctionConfig, SdxiFunction};

/// 24-bit PCI class code of an SDXI function (base 0x12, sub-class 0x01, prog-if 0x00).
pub const CLASS_CODE: u32 = 0x12_01_00;
/// BAR holding the control registers.
pub const REGS_BAR: usize = 0;
/// BAR holding the doorbells.
pub const DOORBELL_BAR: usize = 2;
