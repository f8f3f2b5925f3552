//! The Describe* rules every resource family shares: the ids asked for must
//! exist, filters match (AND across filters, OR across a filter's values,
//! the tag filters on every family), and the listing comes in pages cut at
//! an opaque token. A family says what is its own; the rest is here once.

use crate::error::{ApiError, ApiResult};
use crate::filter::{Filter, Filterable, Filters, tag_filter_values};
use crate::model::{Scope, Tags};
use crate::state::Partition;

/// A resource family that a Describe* action lists.
pub trait Described: Sized {
    type Id: PartialEq;
    /// The filter names of the family, besides `tag:KEY`, `tag-key` and
    /// `tag-value`.
    const FILTERS: &'static [&'static str];
    /// Filters the EC2 model documents for the family on attributes eipd
    /// does not model (spot requests, block devices, Outposts …): accepted,
    /// and, as on AWS for a resource without the attribute, matching nothing.
    const ABSENT: &'static [&'static str] = &[];

    /// Every resource of the family in the partition, in listing order.
    fn all(part: &Partition) -> Vec<&Self>;
    fn get<'p>(part: &'p Partition, id: &Self::Id) -> Option<&'p Self>;
    fn id(&self) -> &Self::Id;
    fn tags(&self) -> &Tags;
    /// The error for ids asked for that do not exist (`missing` is in the
    /// order asked, never empty).
    fn not_found(missing: &[&Self::Id]) -> ApiError;
    /// What the resource has under one of `FILTERS`.
    fn filter_values(&self, part: &Partition, scope: &Scope, name: &str) -> Vec<String>;
    /// Where the listing is cut into pages: increasing in listing order.
    fn page_key(&self) -> String;
}

/// What a Describe* request asks for.
#[derive(Debug, Clone)]
pub struct DescribeQuery<Id> {
    /// Only these (all must exist); empty: every resource.
    pub ids: Vec<Id>,
    pub filters: Vec<Filter>,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<'a, T> {
    pub items: Vec<&'a T>,
    pub next_token: Option<String>,
}

/// Whether `name` is a filter of `names` or one of the tag filters.
pub fn known_filter(names: &[&str], name: &str) -> bool {
    names.contains(&name) || name.starts_with("tag:") || name == "tag-key" || name == "tag-value"
}

/// A resource as its filters see it: with its partition and owner.
struct InScope<'a, R> {
    resource: &'a R,
    part: &'a Partition,
    scope: &'a Scope,
}

impl<R: Described> Filterable for InScope<'_, R> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        if R::FILTERS.contains(&name) {
            return Some(self.resource.filter_values(self.part, self.scope, name));
        }
        tag_filter_values(self.resource.tags(), name)
    }
}

/// The page of `R` that `query` asks for.
pub fn describe<'a, R: Described>(
    part: &'a Partition,
    scope: &Scope,
    query: &DescribeQuery<R::Id>,
) -> ApiResult<Page<'a, R>> {
    listing(
        part,
        query,
        |name| known_filter(R::FILTERS, name) || R::ABSENT.contains(&name),
        |r, filters| filters.matches(&InScope { resource: r, part, scope }),
    )
}

/// The Describe* skeleton, for a listing of a family with filters of its
/// own (DescribeInstanceStatus): the ids asked for must exist, the filter
/// names must be `valid`, and the resources `keep` keeps come in one page.
pub fn listing<'a, R: Described>(
    part: &'a Partition,
    query: &DescribeQuery<R::Id>,
    valid: impl Fn(&str) -> bool,
    keep: impl Fn(&R, &Filters<'_>) -> bool,
) -> ApiResult<Page<'a, R>> {
    let missing: Vec<&R::Id> = query.ids.iter().filter(|id| R::get(part, id).is_none()).collect();
    if !missing.is_empty() {
        return Err(R::not_found(&missing));
    }
    let filters = Filters::new(&query.filters, valid)?;
    let found: Vec<&R> = R::all(part)
        .into_iter()
        .filter(|r| query.ids.is_empty() || query.ids.contains(r.id()))
        .filter(|r| keep(r, &filters))
        .collect();
    let (items, next_token) = paginate(found, |r: &&R| r.page_key(), query.next_token.as_deref(), query.max_results)?;
    Ok(Page { items, next_token })
}

/// One page of `items` (in increasing `key` order) after the opaque
/// `token` (the key of the last item of the page before, in hex).
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    token: Option<&str>,
    max: Option<usize>,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let after = token.map(token_key).transpose()?;
    let start = match &after {
        None => 0,
        Some(after) => items.iter().position(|i| key(i) > *after).unwrap_or(items.len()),
    };
    let Some(max) = max else {
        return Ok((items.into_iter().skip(start).collect(), None));
    };
    let mut page: Vec<T> = items.into_iter().skip(start).collect();
    let next = if page.len() > max {
        page.truncate(max);
        page.last().map(|last| page_token(&key(last)))
    } else {
        None
    };
    Ok((page, next))
}

/// The token of the page after `key`: opaque printable text (the key's UTF-8
/// in hex), since keys may hold what XML cannot carry and clients pass the
/// token back as it came.
fn page_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The key a token stands for; anything `page_token` cannot have written is
/// InvalidNextToken.
fn token_key(token: &str) -> ApiResult<String> {
    let invalid = || ApiError::invalid_next_token(format!("The token '{token}' is invalid."));
    if token.is_empty() || !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).map_err(|_| invalid()))
        .collect::<ApiResult<Vec<u8>>>()?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_their_tokens_to_the_end() {
        let items: Vec<u32> = (0..7).collect();
        let key = |i: &u32| format!("{i:03}");
        let (first, next) = paginate(items.clone(), key, None, Some(3)).unwrap();
        assert_eq!((first, next.as_deref()), (vec![0, 1, 2], Some("303032")));
        let (second, next) = paginate(items.clone(), key, next.as_deref(), Some(3)).unwrap();
        assert_eq!((second, next.as_deref()), (vec![3, 4, 5], Some("303035")));
        let (last, next) = paginate(items.clone(), key, next.as_deref(), Some(3)).unwrap();
        assert_eq!((last, next), (vec![6], None));
        assert_eq!(paginate(items, key, Some(""), None).unwrap_err().code, "InvalidNextToken");
    }

    #[test]
    fn tokens_are_printable_and_only_ours_are_taken() {
        let items = vec!["i-1\u{1f}k\u{e9}", "i-2\u{1f}k"];
        let (_, next) = paginate(items.clone(), |s| s.to_string(), None, Some(1)).unwrap();
        let next = next.unwrap();
        assert!(next.bytes().all(|b| b.is_ascii_hexdigit()), "{next}");
        assert_eq!(paginate(items.clone(), |s| s.to_string(), Some(&next), Some(1)).unwrap().0, vec!["i-2\u{1f}k"]);
        for bad in ["zz", "abc", "ff", "\u{e9}\u{e9}"] {
            let err = paginate(items.clone(), |s| s.to_string(), Some(bad), None).unwrap_err();
            assert_eq!(err.code, "InvalidNextToken", "{bad}");
        }
    }

    #[test]
    fn tag_filters_are_every_familys() {
        assert!(known_filter(&["vpc-id"], "vpc-id"));
        assert!(known_filter(&[], "tag:Name"));
        assert!(known_filter(&[], "tag-key") && known_filter(&[], "tag-value"));
        assert!(!known_filter(&["vpc-id"], "subnet-id"));
    }
}
