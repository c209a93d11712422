//! Closed sets of words: command-line values such as `engine=cpu-mt` and names such as
//! benchmark names, each an enum with its word written once.
//!
//! `words!` declares such an enum with `ALL`, `NAMES`, `name()`, [`core::str::FromStr`]
//! (whose error, [`UnknownWord`], lists every accepted word) and [`core::fmt::Display`].

use alloc::string::{String, ToString};
use core::fmt;

/// A word that is not one of a closed set, with the set (for the error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    /// The word as given.
    pub given: String,
    /// Every accepted word, in declaration order.
    pub accepted: &'static [&'static str],
}

impl UnknownWord {
    /// `given` is none of `accepted`.
    pub fn new(given: &str, accepted: &'static [&'static str]) -> Self {
        Self {
            given: given.to_string(),
            accepted,
        }
    }

    /// The accepted words joined by `|` (`cpu|cpu-mt|dma|hybrid`).
    pub fn accepted_list(&self) -> String {
        self.accepted.join("|")
    }
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not one of {}", self.given, self.accepted_list())
    }
}

/// Declares a fieldless enum whose every variant is spelled by one word:
///
/// ```ignore
/// words! {
///     /// Doc of the enum.
///     pub enum Mode {
///         /// Doc of the variant.
///         Batched = "batched",
///         PerFolio = "per-folio",
///     }
/// }
/// ```
///
/// gives `Mode::ALL`, `Mode::NAMES`, `Mode::name()`, `FromStr` (error [`UnknownWord`])
/// and `Display` (the word).
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];
            /// Every value's word, in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($word,)+];

            /// The word for this value, as typed on the command line and printed in
            /// RESULT lines.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }
        }

        impl core::str::FromStr for $name {
            type Err = $crate::words::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $word => Ok(Self::$variant), )+
                    _ => Err($crate::words::UnknownWord::new(s, Self::NAMES)),
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.pad(self.name())
            }
        }
    };
}
pub(crate) use words;

#[cfg(test)]
mod tests {
    use super::*;

    words! {
        /// A test set.
        enum Fruit {
            /// One.
            Apple = "apple",
            /// Two.
            BloodOrange = "blood-orange",
        }
    }

    #[test]
    fn words_round_trip_and_list_the_set_when_unknown() {
        for &f in Fruit::ALL {
            assert_eq!(f.name().parse::<Fruit>(), Ok(f));
            assert_eq!(alloc::format!("{f}"), f.name());
        }
        assert_eq!(Fruit::NAMES, &["apple", "blood-orange"]);
        let e = "pear".parse::<Fruit>().unwrap_err();
        assert_eq!(e, UnknownWord::new("pear", &["apple", "blood-orange"]));
        assert_eq!(e.to_string(), "'pear' is not one of apple|blood-orange");
        assert!(
            "Apple".parse::<Fruit>().is_err(),
            "words are case-sensitive"
        );
    }
}
