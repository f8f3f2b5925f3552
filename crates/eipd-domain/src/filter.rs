//! EC2 filter matching: AND across filters, OR across the values of one
//! filter, `*` and `?` wildcards (`\` escapes them).

use crate::error::{ApiError, ApiResult};

/// One `Filter.N` of a request: a name and its values (OR across values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
    /// Whether the EC2 model documents the name for the action asked: one
    /// eipd does not evaluate is then eipd's gap, not the caller's mistake.
    pub documented: bool,
}

/// What a resource offers a filter: the values it has under a filter name.
/// A resource lacking the attribute has no values and never matches.
pub trait Filterable {
    /// `None` when the filter name is not valid for this resource type.
    fn filter_values(&self, name: &str) -> Option<Vec<String>>;
}

/// A checked list of filters for one resource type.
pub struct Filters<'a> {
    filters: &'a [Filter],
}

impl<'a> Filters<'a> {
    /// Refuses unknown filter names up front (D14), using `valid` to tell.
    pub fn new(filters: &'a [Filter], valid: impl Fn(&str) -> bool) -> ApiResult<Self> {
        for f in filters {
            if !valid(&f.name) {
                return Err(if f.documented {
                    ApiError::unsupported_filter(&f.name)
                } else {
                    ApiError::invalid_filter(&f.name)
                });
            }
        }
        Ok(Self { filters })
    }

    pub fn matches(&self, resource: &impl Filterable) -> bool {
        self.filters.iter().all(|f| {
            let have = resource.filter_values(&f.name).unwrap_or_default();
            f.values.iter().any(|want| have.iter().any(|v| glob_match(want, v)))
        })
    }

    pub fn get(&self, name: &str) -> Option<&'a Filter> {
        self.filters.iter().find(|f| f.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a Filter> {
        self.filters.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

/// Whether a filter value contains an unescaped wildcard.
pub fn has_wildcard(pattern: &str) -> bool {
    let mut escaped = false;
    for c in pattern.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '*' | '?' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

/// Glob match with `*` (any run), `?` (one char) and `\` escapes; iterative,
/// so hostile patterns cost O(pattern × text) at worst.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?', '\\']) {
        // Most filter values are literals.
        return pattern == text;
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Lit(char),
        One,
        Any,
    }
    let mut toks = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            '*' => Tok::Any,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Any)
}

/// The values of the `tag:KEY`, `tag-key` and `tag-value` filters.
pub fn tag_filter_values(tags: &super::model::Tags, name: &str) -> Option<Vec<String>> {
    if let Some(key) = name.strip_prefix("tag:") {
        return Some(tags.get(key).cloned().into_iter().collect());
    }
    match name {
        "tag-key" => Some(tags.keys().cloned().collect()),
        "tag-value" => Some(tags.values().cloned().collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        assert!(glob_match("*", ""));
        assert!(glob_match("eipalloc-*", "eipalloc-0123"));
        assert!(glob_match("198.18.?.1", "198.18.5.1"));
        assert!(!glob_match("198.18.?.1", "198.18.55.1"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match(r"a\*", "a*"));
        assert!(!glob_match(r"a\*", "ab"));
        assert!(has_wildcard("a*"));
        assert!(!has_wildcard(r"a\*"));
    }

    proptest! {
        #[test]
        fn literal_patterns_match_only_themselves(s in "[a-z0-9.-]{0,20}", t in "[a-z0-9.-]{0,20}") {
            prop_assert!(glob_match(&s, &s));
            prop_assert_eq!(glob_match(&s, &t), s == t);
        }

        #[test]
        fn star_suffix_is_prefix_match(s in "[a-z]{0,10}", t in "[a-z]{0,10}") {
            let pattern = format!("{s}*");
            let text = format!("{s}{t}");
            prop_assert!(glob_match(&pattern, &text));
        }
    }
}
