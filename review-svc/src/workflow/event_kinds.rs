//! One list of an event enum's kinds, from which its `KINDS`, `kind()`,
//! `at()` and `actor()` are made, so that a kind added to the enum cannot
//! be left out of one of them.

/// `event_kinds!(Enum { KindA, KindB, … })` for an enum whose every
/// variant has named fields `at: DateTime<Utc>` and `actor: String`; a
/// variant wrapping another such enum is named after `wrapping` and answers
/// through it. A kind's name is its variant's, as serde writes it in
/// `"type"`.
macro_rules! event_kinds {
    ($event:ident { $($kind:ident),+ $(,)? } $(wrapping $wrapper:ident)?) => {
        impl $event {
            /// Every kind of this enum, as [`Self::kind`] names them.
            pub const KINDS: &'static [&'static str] = &[$(stringify!($kind)),+];

            /// The kind, exactly as in the `"type"` field of the record.
            pub fn kind(&self) -> &'static str {
                match self {
                    $($event::$kind { .. } => stringify!($kind),)+
                    $($event::$wrapper(inner) => inner.kind(),)?
                }
            }

            /// When the event was recorded.
            pub fn at(&self) -> chrono::DateTime<chrono::Utc> {
                match self {
                    $($event::$kind { at, .. } => *at,)+
                    $($event::$wrapper(inner) => inner.at(),)?
                }
            }

            /// The principal that caused the event, or the system actor.
            pub fn actor(&self) -> &str {
                match self {
                    $($event::$kind { actor, .. } => actor,)+
                    $($event::$wrapper(inner) => inner.actor(),)?
                }
            }
        }
    };
}

pub(crate) use event_kinds;
