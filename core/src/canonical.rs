//! RFC 8785 (JSON Canonicalization Scheme) serialisation: spec rule R-MAN-2.
//!
//! Every JSON document this crate digests (manifests, Wasm and Helm config blobs) goes through
//! [`to_vec`], so the same value always yields the same bytes, in any implementation that follows
//! RFC 8785: object members sorted by the UTF-16 code units of their names, no insignificant
//! whitespace, the ECMAScript number form, the minimal string escaping of RFC 8785 §3.2.2.2 and
//! no trailing newline. The work is done by the `serde_jcs` crate; the tests below pin it to
//! the RFC's published examples so a change in that crate cannot change a digest unnoticed.

use serde::Serialize;

/// Why a value cannot be written as canonical JSON.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// The value holds something I-JSON cannot carry (a non-finite number, a non-string key).
    #[error("value cannot be written as RFC 8785 canonical JSON: {0}")]
    Unrepresentable(#[from] serde_json::Error),
}

/// The RFC 8785 canonical JSON bytes of `value` (UTF-8, no trailing newline).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    Ok(serde_jcs::to_vec(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::Value;

    fn canonical(input: &str) -> String {
        let value: Value = serde_json::from_str(input).expect("test input is JSON");
        String::from_utf8(to_vec(&value).expect("canonical")).expect("UTF-8")
    }

    /// RFC 8785 §3.2.3: property sorting by UTF-16 code units, not by code points or locale.
    #[test]
    fn r_man_2_sorts_keys_by_utf16_code_units() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonical(input), expected);
        // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, after it in UTF-8/code points.
        let out = canonical(input);
        assert!(out.find('\u{1f600}') < out.find('\u{fb33}'));
    }

    /// RFC 8785 §3.2.4: the complete example (also `values.json` of the RFC authors' test data).
    #[test]
    fn r_man_2_rfc_example_bytes() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let out = canonical(input);
        assert_eq!(
            out,
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        // The Euro sign is written as its UTF-8 bytes, U+000F as a lowercase `\u000f` escape.
        let string_member = &out.as_bytes()[out.find("\"string\":").expect("member") + 10..];
        assert_eq!(&string_member[..12], b"\xe2\x82\xac$\\u000f\\n");
    }

    /// RFC 8785 Appendix B: ECMAScript number serialisation.
    #[rstest]
    #[case::zero(0x0000_0000_0000_0000, "0")]
    #[case::minus_zero(0x8000_0000_0000_0000, "0")]
    #[case::min_positive(0x0000_0000_0000_0001, "5e-324")]
    #[case::max_positive(0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308")]
    #[case::max_safe_integer(0x4340_0000_0000_0000, "9007199254740992")]
    #[case::two_pow_68(0x4430_0000_0000_0000, "295147905179352830000")]
    #[case::just_below_1e23(0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22")]
    #[case::e23(0x44b5_2d02_c7e1_4af6, "1e+23")]
    #[case::e21(0x444b_1ae4_d6e2_ef50, "1e+21")]
    #[case::below_e21(0x444b_1ae4_d6e2_ef4f, "999999999999999900000")]
    #[case::micro(0x3eb0_c6f7_a0b5_ed8d, "0.000001")]
    #[case::below_micro(0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7")]
    #[case::negative_small(0xbecb_f647_612f_3696, "-0.0000033333333333333333")]
    #[case::round_to_even(0x4314_3ff3_c1cb_0959, "1424953923781206.2")]
    fn r_man_2_numbers_follow_rfc_appendix_b(#[case] bits: u64, #[case] expected: &str) {
        let out = to_vec(&f64::from_bits(bits)).expect("finite");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), expected);
    }

    #[rstest]
    #[case::nan(0x7fff_ffff_ffff_ffff)]
    #[case::infinity(0x7ff0_0000_0000_0000)]
    fn r_man_2_non_finite_numbers_are_refused(#[case] bits: u64) {
        assert!(matches!(to_vec(&f64::from_bits(bits)), Err(CanonicalError::Unrepresentable(_))));
    }

    /// Integers (sizes) are written without fraction or exponent.
    #[rstest]
    #[case::small(5u64, "5")]
    #[case::four_mib(4_194_304u64, "4194304")]
    #[case::max_safe(9_007_199_254_740_991u64, "9007199254740991")]
    fn r_man_2_integers_are_plain_decimal(#[case] n: u64, #[case] expected: &str) {
        assert_eq!(to_vec(&n).expect("integer"), expected.as_bytes());
    }

    /// RFC 8785 §3.2.2.2: which characters are escaped and how.
    #[rstest]
    #[case::quote("\"", r#""\"""#)]
    #[case::backslash("\\", r#""\\""#)]
    #[case::solidus_not_escaped("/", r#""/""#)]
    #[case::named_controls("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#)]
    #[case::other_controls_lowercase_hex("\u{0}\u{1f}\u{b}", r#""\u0000\u001f\u000b""#)]
    #[case::del_is_literal("\u{7f}", "\"\u{7f}\"")]
    #[case::non_ascii_is_literal("é€😀\u{2028}", "\"é€😀\u{2028}\"")]
    #[case::html_is_literal("</script>&", r#""</script>&""#)]
    fn r_man_2_string_escaping(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(String::from_utf8(to_vec(input).expect("string")).expect("UTF-8"), expected);
    }

    /// Nested objects inside arrays are sorted too; empty containers stay; no whitespace.
    #[test]
    fn r_man_2_nested_structures() {
        let input = r#"{"1": {"f": {"f": "hi","F": 5} ,"\n": 56.0}, "10": { }, "": "empty",
                        "a": { }, "111": [ {"e": "yes","E": "no" } ], "A": { }}"#;
        assert_eq!(
            canonical(input),
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#
        );
    }

    #[test]
    fn r_man_2_no_trailing_newline() {
        let out = to_vec(&serde_json::json!({"b": 1, "a": [true, null]})).expect("json");
        assert_eq!(out, br#"{"a":[true,null],"b":1}"#);
    }
}
