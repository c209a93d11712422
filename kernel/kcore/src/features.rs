//! CPU features the command line can force on or off (`pcid=`, `invpcid=`, `avx512=`),
//! resolved against what the CPU reports. Forcing a feature off exercises the fallback
//! path on a machine that has it; forcing it on refuses to run on a machine without it,
//! so a run that claims to have measured a hardware path really did.

crate::words::words! {
    /// One key's setting (`auto`, the key table's default, `on` or `off`).
    pub enum Force {
        /// Use the feature when the CPU has it.
        Auto = "auto",
        /// Use it; refuse to run when the CPU lacks it.
        On = "on",
        /// Never use it.
        Off = "off",
    }
}

/// The three settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forced {
    /// `pcid=`.
    pub pcid: Force,
    /// `invpcid=`.
    pub invpcid: Force,
    /// `avx512=`.
    pub avx512: Force,
}

/// What the CPU offers (from CPUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Present {
    /// CPUID.1:ECX\[17\].
    pub pcid: bool,
    /// CPUID.7.0:EBX\[10\].
    pub invpcid: bool,
    /// AVX-512F (CPUID.7.0:EBX\[16\]) with XSAVE able to hold its state (and AVX2 on).
    pub avx512: bool,
}

/// What the kernel will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Chosen {
    /// PCIDs for migration address spaces.
    pub pcid: bool,
    /// INVPCID (only with PCIDs).
    pub invpcid: bool,
    /// AVX-512 state and the avx512 copy routine.
    pub avx512: bool,
}

/// A feature forced on that the CPU (or a feature it depends on) lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureError {
    /// `pcid=on` without CPUID.1:ECX\[17\].
    PcidAbsent,
    /// `invpcid=on` without CPUID.7.0:EBX\[10\].
    InvpcidAbsent,
    /// `invpcid=on` with PCIDs off or absent (INVPCID only matters with PCIDs).
    InvpcidWithoutPcid,
    /// `avx512=on` without AVX-512F and its XSAVE state.
    Avx512Absent,
}

impl core::fmt::Display for FeatureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::PcidAbsent => "pcid=on, but this CPU has no PCID (CPUID.1:ECX[17] is 0)",
            Self::InvpcidAbsent => {
                "invpcid=on, but this CPU has no INVPCID (CPUID.7.0:EBX[10] is 0)"
            }
            Self::InvpcidWithoutPcid => "invpcid=on needs PCIDs, which are off or absent",
            Self::Avx512Absent => {
                "avx512=on, but this CPU has no usable AVX-512 (AVX-512F with XSAVE state and AVX2)"
            }
        })
    }
}

fn one(force: Force, present: bool, absent: FeatureError) -> Result<bool, FeatureError> {
    match (force, present) {
        (Force::Off, _) => Ok(false),
        (Force::Auto, p) => Ok(p),
        (Force::On, true) => Ok(true),
        (Force::On, false) => Err(absent),
    }
}

/// Resolves the settings against the CPU. Errors name the first feature forced on that
/// cannot be had.
///
/// # Errors
/// Checked in this order, the first that fails: [`FeatureError::PcidAbsent`] for
/// `pcid=on` without `CPUID.1:ECX[17]`; [`FeatureError::InvpcidAbsent`] for `invpcid=on`
/// without `CPUID.7.0:EBX[10]`; [`FeatureError::InvpcidWithoutPcid`] for `invpcid=on` when
/// PCIDs end up off; [`FeatureError::Avx512Absent`] for `avx512=on` without usable AVX-512.
/// `auto` and `off` never fail.
pub fn resolve(forced: Forced, present: Present) -> Result<Chosen, FeatureError> {
    let pcid = one(forced.pcid, present.pcid, FeatureError::PcidAbsent)?;
    let invpcid = match forced.invpcid {
        Force::On if !present.invpcid => return Err(FeatureError::InvpcidAbsent),
        Force::On if !pcid => return Err(FeatureError::InvpcidWithoutPcid),
        f => one(f, present.invpcid, FeatureError::InvpcidAbsent)? && pcid,
    };
    let avx512 = one(forced.avx512, present.avx512, FeatureError::Avx512Absent)?;
    Ok(Chosen {
        pcid,
        invpcid,
        avx512,
    })
}

/// `PCID on (forced), INVPCID off (auto: absent), AVX-512 off (forced)` for the boot
/// summary and the RESULT lines' `features` field.
pub fn describe(forced: Forced, present: Present, chosen: Chosen) -> alloc::string::String {
    let part = |name: &str, force: Force, present: bool, used: bool| {
        let why = match (force, present) {
            (Force::Auto, true) => "auto",
            (Force::Auto, false) => "auto: absent",
            (Force::On, _) => "forced",
            (Force::Off, true) => "forced; the CPU has it",
            (Force::Off, false) => "forced; absent anyway",
        };
        alloc::format!("{name} {} ({why})", if used { "on" } else { "off" })
    };
    alloc::format!(
        "{}, {}, {}",
        part("PCID", forced.pcid, present.pcid, chosen.pcid),
        part("INVPCID", forced.invpcid, present.invpcid, chosen.invpcid),
        part("AVX-512", forced.avx512, present.avx512, chosen.avx512)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO: Forced = Forced {
        pcid: Force::Auto,
        invpcid: Force::Auto,
        avx512: Force::Auto,
    };

    const ALL: Present = Present {
        pcid: true,
        invpcid: true,
        avx512: true,
    };
    const NONE: Present = Present {
        pcid: false,
        invpcid: false,
        avx512: false,
    };

    #[test]
    fn auto_follows_the_cpu() {
        let d = AUTO;
        let all = resolve(d, ALL).unwrap();
        assert!(all.pcid && all.invpcid && all.avx512);
        assert_eq!(resolve(d, NONE).unwrap(), Chosen::default());
    }

    #[test]
    fn off_wins_over_a_present_feature() {
        let f = Forced {
            pcid: Force::Off,
            invpcid: Force::Auto,
            avx512: Force::Off,
        };
        // INVPCID without PCIDs is never used.
        assert_eq!(resolve(f, ALL).unwrap(), Chosen::default());
        let f = Forced {
            invpcid: Force::Off,
            ..AUTO
        };
        let c = resolve(f, ALL).unwrap();
        assert!(c.pcid && !c.invpcid && c.avx512);
    }

    #[test]
    fn on_without_the_feature_is_refused() {
        let on = |pcid, invpcid, avx512| Forced {
            pcid,
            invpcid,
            avx512,
        };
        use Force::{Auto, Off, On};
        assert_eq!(
            resolve(on(On, Auto, Auto), NONE),
            Err(FeatureError::PcidAbsent)
        );
        assert_eq!(
            resolve(on(Auto, Auto, On), NONE),
            Err(FeatureError::Avx512Absent)
        );
        let pcid_only = Present { pcid: true, ..NONE };
        assert_eq!(
            resolve(on(Auto, On, Auto), pcid_only),
            Err(FeatureError::InvpcidAbsent)
        );
        assert_eq!(
            resolve(on(Off, On, Auto), ALL),
            Err(FeatureError::InvpcidWithoutPcid)
        );
        assert!(resolve(on(On, On, On), ALL).is_ok());
    }

    #[test]
    fn describe_says_what_ran_and_why() {
        let f = Forced {
            pcid: Force::Off,
            invpcid: Force::Auto,
            avx512: Force::Auto,
        };
        let p = Present {
            pcid: true,
            invpcid: false,
            avx512: false,
        };
        let c = resolve(f, p).unwrap();
        assert_eq!(
            describe(f, p, c),
            "PCID off (forced; the CPU has it), INVPCID off (auto: absent), AVX-512 off (auto: absent)"
        );
    }

    #[test]
    fn parse_words() {
        assert_eq!("on".parse(), Ok(Force::On));
        assert_eq!("off".parse(), Ok(Force::Off));
        assert_eq!("auto".parse(), Ok(Force::Auto));
        assert_eq!(Force::On.name(), "on");
        assert_eq!(
            "yes".parse::<Force>().unwrap_err().accepted_list(),
            "auto|on|off"
        );
    }
}
