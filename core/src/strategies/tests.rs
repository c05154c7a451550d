//! The strategies generate what they promise, checked through the one template parser: escaped
//! literal text renders back to itself (R-TPL-3) and a generated template renders to the
//! concatenation of its pieces (R-TPL-1); label text holds the characters it is meant to.

use proptest::prelude::*;

use super::*;
use crate::template::{full_vars, Template};

proptest! {
    #[test]
    fn r_tpl_3_escaped_literal_text_round_trips(literal in any::<String>(), vars in vars()) {
        let template = Template::parse(&escape(&literal)).expect("escaped text always parses");
        prop_assert!(Var::ALL.iter().all(|v| !template.uses(*v)));
        prop_assert_eq!(template.render(&vars), Ok(literal));
    }

    #[test]
    fn r_tpl_1_generated_templates_render_to_the_concatenation(
        pieces in proptest::collection::vec(template_piece(), 0..8),
    ) {
        let vars = full_vars();
        let (text, expected) = template_text(&pieces, |v| vars.get(v).unwrap_or_default().to_string());
        let template = Template::parse(&text).expect("generated template parses");
        for p in &pieces {
            if let Piece::Var(v) = p {
                prop_assert!(template.uses(*v));
            }
        }
        prop_assert_eq!(template.render(&vars), Ok(expected));
    }

    #[test]
    fn label_text_stays_out_of_template_syntax(text in label_text()) {
        let outside = !text.contains(['$', '{']);
        prop_assert!(outside, "{:?}", text);
    }
}
