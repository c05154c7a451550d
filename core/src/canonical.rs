//! RFC 8785 (JSON Canonicalization Scheme) serialisation: spec rule R-MAN-2.
//!
//! Every JSON document this crate digests (manifests, Wasm and Helm config blobs) goes through
//! [`to_vec`], so the same value always yields the same bytes, in any implementation that follows
//! RFC 8785: object members sorted by the UTF-16 code units of their names, no insignificant
//! whitespace, the ECMAScript number form, the minimal string escaping of RFC 8785 §3.2.2.2 and
//! no trailing newline. The work is done by the `serde_jcs` crate; the tests below pin it to
//! the RFC's published examples so a change in that crate cannot change a digest unnoticed.
//!
//! A document someone else wrote is read back for rewriting with [`from_i_json`], which refuses
//! what RFC 8785 cannot carry unchanged (I-JSON, RFC 7493: a member name twice in one object,
//! an integer beyond 2^53 − 1), so rewriting never silently changes another tool's data (R-REF-4).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};

/// The largest integer every I-JSON reader holds exactly (RFC 7493 §2.2).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

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

/// The JSON value of `bytes`, when they are I-JSON that canonical JSON writes back with the same
/// values: no object with a member name twice (at any depth) and no number whose value is an
/// integer of magnitude above 2^53 − 1, however written. `Err` says what is wrong, and where.
pub fn from_i_json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<IJson>(bytes).map(|IJson(v)| v).map_err(|e| e.to_string())
}

/// A JSON value read by [`from_i_json`]'s rules.
struct IJson(Value);

impl<'de> Deserialize<'de> for IJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IJsonVisitor).map(IJson)
    }
}

struct IJsonVisitor;

fn too_big<E: de::Error>(number: impl std::fmt::Display) -> E {
    E::custom(format!("the number {number} is an integer beyond 2^53 - 1, which canonical JSON (I-JSON) cannot hold exactly"))
}

impl<'de> Visitor<'de> for IJsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(too_big(v));
        }
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER {
            return Err(too_big(v));
        }
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // An integer too long for 64 bits arrives here too, as the nearest double.
        if v.fract() == 0.0 && v.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(too_big(v));
        }
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(IJson(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if out.contains_key(&name) {
                let name = crate::display::text(&name);
                return Err(de::Error::custom(format!("the member name \"{name}\" appears twice in one object")));
            }
            let IJson(v) = map.next_value()?;
            out.insert(name, v);
        }
        Ok(Value::Object(out))
    }
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

    /// R-REF-4: what canonical JSON would change is refused, naming the defect; the rest reads
    /// as serde_json reads it.
    #[rstest]
    #[case::duplicate_member(r#"{"a":1,"b":{"c":1,"c":2}}"#, "the member name \"c\" appears twice in one object")]
    #[case::big_integer(r#"{"n":[18446744073709551616]}"#, "is an integer beyond 2^53 - 1")]
    #[case::big_u64(r#"{"n":9007199254740992}"#, "the number 9007199254740992 is an integer beyond")]
    #[case::big_negative(r#"{"n":-9007199254740992}"#, "the number -9007199254740992 is an integer beyond")]
    #[case::big_exponent(r#"{"n":1e300}"#, "is an integer beyond 2^53 - 1")]
    #[case::not_json(r#"{"n":"#, "EOF")]
    fn r_ref_4_documents_canonical_json_would_change_are_refused(#[case] input: &str, #[case] reason: &str) {
        let err = from_i_json(input.as_bytes()).unwrap_err();
        assert!(err.contains(reason), "{err}");
    }

    #[rstest]
    #[case::safe_integers(r#"{"n":[9007199254740991,-9007199254740991,0]}"#)]
    #[case::fractions(r#"{"n":[1.5,0.1,-2.5e-3,1.0]}"#)]
    #[case::same_name_in_two_objects(r#"[{"a":1},{"a":2}]"#)]
    #[case::everything_else(r#"{"s":"\u0041","t":true,"f":false,"z":null,"e":{},"l":[]}"#)]
    fn r_ref_4_i_json_reads_as_json(#[case] input: &str) {
        let plain: Value = serde_json::from_str(input).expect("JSON");
        assert_eq!(from_i_json(input.as_bytes()), Ok(plain));
    }

    #[test]
    fn r_man_2_no_trailing_newline() {
        let out = to_vec(&serde_json::json!({"b": 1, "a": [true, null]})).expect("json");
        assert_eq!(out, br#"{"a":[true,null],"b":1}"#);
    }
}
