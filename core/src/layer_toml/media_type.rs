//! Media type syntax for `artifactType` (R-FIELD-6) and `mediaType` (R-FIELD-7): RFC 6838
//! `type/subtype` (the subtype may carry a `+suffix`), restricted to lowercase, no parameters.

/// Longest type or subtype RFC 6838 allows.
const MAX_NAME_LEN: usize = 127;

/// Why a string is not a media type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaTypeError {
    /// The value is the empty string.
    #[error("it is empty")]
    Empty,
    /// The value has parameters (`;charset=…`), which R-FIELD-7 does not allow.
    #[error("parameters (`;…`) are not allowed")]
    Parameters,
    /// There is no `/` between type and subtype.
    #[error("it has no `/` between type and subtype")]
    NoSlash,
    /// The type or the subtype is empty.
    #[error("the {part} is empty")]
    EmptyPart {
        /// Which part: "type" or "subtype".
        part: &'static str,
    },
    /// A part starts with something else than a lowercase letter or digit.
    #[error("the {part} must start with a lowercase letter or digit, found `{found}`")]
    BadFirstChar {
        /// Which part: "type" or "subtype".
        part: &'static str,
        /// The character found.
        found: char,
    },
    /// A part has an uppercase letter (media types are written lowercase here).
    #[error("uppercase `{found}` is not allowed in the {part}")]
    Uppercase {
        /// Which part: "type" or "subtype".
        part: &'static str,
        /// The uppercase letter found.
        found: char,
    },
    /// A part has a character RFC 6838 does not allow in a name.
    #[error("`{found}` is not allowed in the {part}")]
    BadChar {
        /// Which part: "type" or "subtype".
        part: &'static str,
        /// The character found.
        found: char,
    },
    /// A part is over 127 characters (RFC 6838).
    #[error("the {part} is longer than 127 characters")]
    TooLong {
        /// Which part: "type" or "subtype".
        part: &'static str,
    },
}

/// Checks `value` is `type/subtype`: each part 1..=127 characters, starting with a lowercase
/// ASCII letter or digit, the rest lowercase ASCII letters, digits or `!#$&-^_.+`.
pub fn validate_media_type(value: &str) -> Result<(), MediaTypeError> {
    if value.is_empty() {
        return Err(MediaTypeError::Empty);
    }
    if value.contains(';') {
        return Err(MediaTypeError::Parameters);
    }
    let (ty, subtype) = value.split_once('/').ok_or(MediaTypeError::NoSlash)?;
    validate_name(ty, "type")?;
    validate_name(subtype, "subtype")
}

fn validate_name(name: &str, part: &'static str) -> Result<(), MediaTypeError> {
    let mut chars = name.chars();
    let first = chars.next().ok_or(MediaTypeError::EmptyPart { part })?;
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(if first.is_ascii_uppercase() {
            MediaTypeError::Uppercase { part, found: first }
        } else {
            MediaTypeError::BadFirstChar { part, found: first }
        });
    }
    for c in chars {
        if c.is_ascii_uppercase() {
            return Err(MediaTypeError::Uppercase { part, found: c });
        }
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || "!#$&-^_.+".contains(c)) {
            return Err(MediaTypeError::BadChar { part, found: c });
        }
    }
    if name.len() > MAX_NAME_LEN {
        return Err(MediaTypeError::TooLong { part });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::octet_stream("application/octet-stream")]
    #[case::suffix("application/vnd.oci.image.manifest.v1+json")]
    #[case::helm("application/vnd.cncf.helm.chart.content.v1.tar+gzip")]
    #[case::wasm("application/wasm")]
    #[case::digits_and_specials("x1/a!#$&-^_.+z")]
    #[case::longest(&format!("a/{}", "b".repeat(127)))]
    fn r_field_6_valid_media_types(#[case] value: &str) {
        assert_eq!(validate_media_type(value), Ok(()));
    }

    #[rstest]
    #[case::empty("", MediaTypeError::Empty)]
    #[case::parameters("text/plain; charset=utf-8", MediaTypeError::Parameters)]
    #[case::no_slash("wasm", MediaTypeError::NoSlash)]
    #[case::empty_type("/json", MediaTypeError::EmptyPart { part: "type" })]
    #[case::empty_subtype("application/", MediaTypeError::EmptyPart { part: "subtype" })]
    #[case::uppercase("Application/json", MediaTypeError::Uppercase { part: "type", found: 'A' })]
    #[case::uppercase_inside("application/vnd.Foo", MediaTypeError::Uppercase { part: "subtype", found: 'F' })]
    #[case::two_slashes("a/b/c", MediaTypeError::BadChar { part: "subtype", found: '/' })]
    #[case::space("application/x y", MediaTypeError::BadChar { part: "subtype", found: ' ' })]
    #[case::first_char("application/+json", MediaTypeError::BadFirstChar { part: "subtype", found: '+' })]
    #[case::non_ascii("application/é", MediaTypeError::BadFirstChar { part: "subtype", found: 'é' })]
    #[case::too_long(&format!("a/{}", "b".repeat(128)), MediaTypeError::TooLong { part: "subtype" })]
    fn r_field_6_invalid_media_types(#[case] value: &str, #[case] expected: MediaTypeError) {
        assert_eq!(validate_media_type(value), Err(expected));
    }
}
