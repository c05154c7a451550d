//! Tests of the template grammar (R-TPL-1..4) and rendering.

use proptest::prelude::*;
use rstest::rstest;

use super::*;

fn render(text: &str) -> String {
    match Template::parse(text) {
        Err(e) => format!("parse error: {e}"),
        Ok(t) => t.render(&full_vars()).unwrap_or_else(|e| format!("render error: {e}")),
    }
}

#[rstest]
#[case::plain_text("wasm", "wasm")]
#[case::empty("", "")]
#[case::one_var("${build.tag}", "1.2.3")]
#[case::var_in_text("v-${build.tag}-wasm", "v-1.2.3-wasm")]
#[case::adjacent_vars("${buildpack.id}@${buildpack.version}", "acme/wasm@0.4.1")]
#[case::non_ascii("é${layer.name}→", "émodule→")]
fn r_tpl_1_placeholders_are_replaced(#[case] text: &str, #[case] expected: &str) {
    assert_eq!(render(text), expected);
}

#[rstest]
#[case::tag("build.tag", "1.2.3")]
#[case::image("build.image", "registry.example.com/team/app:1.2.3")]
#[case::repository("build.repository", "team/app")]
#[case::registry("build.registry", "registry.example.com")]
#[case::digest("build.digest", "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
#[case::buildpack_id("buildpack.id", "acme/wasm")]
#[case::buildpack_version("buildpack.version", "0.4.1")]
#[case::layer_name("layer.name", "module")]
fn r_tpl_2_each_known_name_renders_its_value(#[case] name: &str, #[case] expected: &str) {
    assert_eq!(render(&format!("${{{name}}}")), expected);
    let var = Var::from_name(name).expect("known name");
    assert_eq!(var.name(), name);
    assert_eq!(var.to_string(), name);
}

#[test]
fn r_tpl_2_all_lists_each_variable_once_in_spec_order() {
    let names: Vec<&str> = Var::ALL.iter().map(|v| v.name()).collect();
    assert_eq!(
        names,
        [
            "build.tag",
            "build.image",
            "build.repository",
            "build.registry",
            "build.digest",
            "buildpack.id",
            "buildpack.version",
            "layer.name"
        ]
    );
}

#[rstest]
#[case::uppercase("Build.Tag")]
#[case::env_var("HOME")]
#[case::spaces(" build.tag ")]
#[case::prefix("build")]
fn r_tpl_2_names_outside_the_closed_set_are_unknown(#[case] name: &str) {
    assert_eq!(Var::from_name(name), None);
}

#[rstest]
#[case::escaped_open("$${build.tag}", "${build.tag}")]
#[case::escape_then_var("$${x}${build.tag}", "${x}1.2.3")]
#[case::lone_dollar("$", "$")]
#[case::dollar_not_before_brace("a$b", "a$b")]
#[case::double_dollar("$$", "$$")]
#[case::dollar_before_escape("$$${", "$${")]
#[case::trailing_escape("x$${", "x${")]
#[case::close_brace_alone("}", "}")]
#[case::dollar_then_var("$-${layer.name}", "$-module")]
fn r_tpl_3_double_dollar_is_literal(#[case] text: &str, #[case] expected: &str) {
    assert_eq!(render(text), expected);
}

#[rstest]
#[case::unknown("a${build.tga}", TemplateError::UnknownVariable { name: "build.tga".into(), offset: 1 })]
#[case::whitespace_not_trimmed("${ build.tag }", TemplateError::UnknownVariable { name: " build.tag ".into(), offset: 0 })]
#[case::env("x-${HOME}", TemplateError::UnknownVariable { name: "HOME".into(), offset: 2 })]
#[case::nested("${a${build.tag}}", TemplateError::UnknownVariable { name: "a${build.tag".into(), offset: 0 })]
#[case::unterminated("v${build.tag", TemplateError::Unterminated { offset: 1 })]
#[case::unterminated_at_end("abc${", TemplateError::Unterminated { offset: 3 })]
#[case::empty("é${}", TemplateError::EmptyName { offset: 2 })]
#[case::first_error_wins("${}${nope}", TemplateError::EmptyName { offset: 0 })]
fn r_tpl_4_bad_placeholders_are_errors_with_offset(#[case] text: &str, #[case] expected: TemplateError) {
    let err = Template::parse(text).expect_err("must not parse");
    assert_eq!(err.offset(), expected.offset());
    assert_eq!(err, expected);
}

#[test]
fn r_tpl_4_error_messages_name_the_placeholder_and_offset() {
    let err = Template::parse("a${nope}").expect_err("unknown");
    assert_eq!(err.to_string(), "unknown variable `${nope}` at offset 1");
    let err = Template::parse("a${").expect_err("unterminated");
    assert_eq!(err.to_string(), "unterminated `${` at offset 1");
    let err = Template::parse("${}").expect_err("empty");
    assert_eq!(err.to_string(), "empty variable name `${}` at offset 0");
}

#[test]
fn r_tpl_4_help_lists_known_names_and_the_escape() {
    let help = Template::parse("${nope}").expect_err("unknown").help();
    assert_eq!(
        help,
        "known variables: build.tag, build.image, build.repository, build.registry, \
         build.digest, buildpack.id, buildpack.version, layer.name; write `$${` for a literal `${`"
    );
}

#[test]
fn r_tpl_4_help_points_out_spaces_around_a_known_name() {
    let help = Template::parse("${ build.tag }").expect_err("spaces").help();
    assert!(help.ends_with("; no spaces are allowed inside `${…}`: write `${build.tag}`"), "{help}");
}

#[test]
fn parse_records_the_byte_range_of_each_placeholder() {
    let t = Template::parse("é-${build.tag}/${layer.name}").expect("valid");
    assert_eq!(
        t.segments,
        vec![
            Segment::Literal("é-".into()),
            Segment::Var(Var::BuildTag, 3..15),
            Segment::Literal("/".into()),
            Segment::Var(Var::LayerName, 16..29),
        ]
    );
    assert!(t.uses(Var::BuildTag));
    assert!(!t.uses(Var::BuildDigest));
    assert_eq!(t.vars().map(|(v, _)| v).collect::<Vec<_>>(), [Var::BuildTag, Var::LayerName]);
}

#[test]
fn render_fails_on_the_first_variable_without_a_value() {
    let t = Template::parse("${layer.name}-${build.tag}-${build.digest}").expect("valid");
    let vars = Vars { layer_name: Some("m".into()), ..Vars::default() };
    assert_eq!(t.render(&vars), Err(RenderError { var: Var::BuildTag, offset: 14 }));
    assert_eq!(t.render(&vars).expect_err("no tag").to_string(), "`${build.tag}` at offset 14 has no value in this build");
}

#[test]
fn render_does_not_need_values_of_unused_variables() {
    let t = Template::parse("static $${build.tag}").expect("valid");
    assert_eq!(t.render(&Vars::default()).as_deref(), Ok("static ${build.tag}"));
}

proptest! {
    #[test]
    fn r_tpl_4_parse_never_panics(text in any::<String>()) {
        let _ = Template::parse(&text);
    }

    #[test]
    fn r_tpl_4_parse_never_panics_on_dollar_brace_soup(text in "[$}{a-z. ]{0,24}") {
        if let Err(e) = Template::parse(&text) {
            prop_assert!(text[e.offset()..].starts_with("${"), "offset {} in {:?}", e.offset(), text);
        }
    }

    #[test]
    fn r_tpl_3_escaped_dollar_brace_soup_round_trips(literal in "[$}{a-z]{0,24}") {
        let template = Template::parse(&escape(&literal)).expect("escaped text always parses");
        prop_assert_eq!(template.render(&Vars::default()), Ok(literal));
    }
}
