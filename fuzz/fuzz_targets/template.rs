//! Fuzz target `template`: arbitrary text as a `${…}` template (rules R-TPL-1..4), rendered
//! with fixed values (R-TPL-5..7 for the unknown ones). Never a panic; beyond that:
//!
//! - an error's offset is a character boundary where the text has `${` (the planner adds it
//!   to the value's position in the TOML to locate the diagnostic);
//! - every variable's range covers exactly `${name}` in the text;
//! - with every value known, rendering succeeds; with none known, it fails at the first
//!   variable;
//! - `escape(text)` parses and renders back to `text` exactly (R-TPL-3).

#![no_main]

use cnb_artifacts_core::template::{escape, Template, Vars};
use libfuzzer_sys::fuzz_target;

fn all_known() -> Vars {
    Vars {
        build_tag: Some("1.2.3".into()),
        build_image: Some("localhost:5000/team/app:1.2.3".into()),
        build_repository: Some("team/app".into()),
        build_registry: Some("localhost:5000".into()),
        build_digest: Some(format!("sha256:{}", "a".repeat(64))),
        buildpack_id: Some("acme/wasm".into()),
        buildpack_version: Some("0.1.0".into()),
        layer_name: Some("module".into()),
    }
}

fuzz_target!(|text: &str| {
    match Template::parse(text) {
        Ok(template) => {
            for (var, range) in template.vars() {
                assert_eq!(
                    text.get(range.clone()),
                    Some(format!("${{{var}}}").as_str()),
                    "range {range:?}"
                );
            }
            template
                .render(&all_known())
                .expect("every variable has a value");
            match template.render(&Vars::default()) {
                Ok(rendered) => assert!(
                    template.vars().next().is_none(),
                    "rendered {rendered:?} without values"
                ),
                Err(e) => assert_eq!(
                    template.vars().next().map(|(v, r)| (v, r.start)),
                    Some((e.var, e.offset))
                ),
            }
        }
        Err(e) => {
            let offset = e.offset();
            assert!(
                text.get(offset..)
                    .is_some_and(|rest| rest.starts_with("${")),
                "offset {offset} of {e}"
            );
            let _ = (e.to_string(), e.help());
        }
    }
    let escaped = escape(text);
    let literal = Template::parse(&escaped).expect("an escaped text parses");
    assert!(
        literal.vars().next().is_none(),
        "an escaped text has no variables"
    );
    assert_eq!(
        literal
            .render(&Vars::default())
            .expect("no variables to fill"),
        text
    );
});
