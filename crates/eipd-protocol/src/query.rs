//! Decoding of the EC2 Query wire format.
//!
//! A request is a flat list of `Name=value` pairs where lists are flattened as
//! `Prefix.N` (1-based) and structures as `Prefix.N.Member`. [`Params`] holds
//! them and hands them out with `take_*` methods: whatever an operation did not
//! take is, by construction, a parameter it does not understand (D14).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Range;

use crate::model_params;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::filter::Filter;

/// Largest list index accepted in `X.N`: AWS caps lists far below this, and a
/// bound keeps `Filter.99999999.Name` from allocating.
pub const MAX_LIST_INDEX: usize = 1000;
/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 5000;

#[derive(Default, Clone)]
pub struct Params {
    /// Every decoded name and value, back to back: one allocation for the
    /// whole request rather than two per parameter.
    text: String,
    /// The parameters not taken yet, sorted by name: the members of
    /// `Prefix.N…` are one run of them.
    pairs: Vec<Pair>,
    action: Option<String>,
}

/// One parameter: its name and value as ranges of `Params::text`.
#[derive(Clone, Copy)]
struct Pair {
    name: (u32, u32),
    value: (u32, u32),
}

/// A taken member of a list: `Prefix.N<rest>` and its value, as ranges of
/// `Params::text` (which taking never changes).
struct Member {
    n: usize,
    rest: Range<usize>,
    value: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpecification {
    pub resource_type: String,
    pub tags: Vec<(String, String)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entry(&"Action", &self.action)
            .entries(self.pairs.iter().map(|p| (self.name(p), self.value(p))))
            .finish()
    }
}

/// A character of XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn range((start, end): (u32, u32)) -> Range<usize> {
    start as usize..end as usize
}

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` body (or query string).
    /// Duplicate keys are refused: AWS does not define which one wins.
    pub fn decode(body: &[u8]) -> ApiResult<Self> {
        let Ok(body) = std::str::from_utf8(body) else {
            return Err(ApiError::malformed_query_string("The request body is not valid UTF-8"));
        };
        // Decoding never lengthens a component (`%XX` is at least as long as
        // what it stands for), so `text` is allocated once; the offsets fit
        // u32 because bodies and query strings are far below 4 GiB.
        let mut params = Self { text: String::with_capacity(body.len()), ..Self::default() };
        for pair in body.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if params.pairs.len() >= MAX_PARAMS {
                return Err(ApiError::invalid_parameter_value(format!(
                    "The request has more than {MAX_PARAMS} parameters"
                )));
            }
            if key.is_empty() {
                continue;
            }
            let name = params.push_decoded(key);
            let value = params.push_decoded(value);
            // What XML 1.0 cannot carry could never be answered back (a tag
            // value, a description): refused at the door.
            let (name_text, value_text) = (&params.text[range(name)], &params.text[range(value)]);
            if let Some(c) = name_text.chars().chain(value_text.chars()).find(|&c| !is_xml_char(c)) {
                return Err(ApiError::invalid_parameter_value(format!(
                    "The parameter {} contains the character U+{:04X}, which XML 1.0 cannot carry",
                    name_text.escape_debug(),
                    c as u32
                )));
            }
            params.pairs.push(Pair { name, value });
        }
        params.sort_and_check()?;
        params.action = params.take_str("Action");
        params.discard("Version");
        Ok(params)
    }

    /// The members of one structure of a list (`take_structs`), already
    /// decoded, as parameters of their own: for a structure that nests
    /// lists of its own (`NetworkInterface.N.PrivateIpAddresses.M.…`).
    pub fn from_members<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> ApiResult<Self> {
        let mut params = Self::default();
        for (name, value) in members {
            let name = params.push_plain(name);
            let value = params.push_plain(value);
            params.pairs.push(Pair { name, value });
        }
        params.sort_and_check()?;
        Ok(params)
    }

    fn push_plain(&mut self, text: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        (start, self.text.len() as u32)
    }

    /// Appends one decoded component to `text`; its range there.
    fn push_decoded(&mut self, raw: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        push_form_decoded(&mut self.text, raw);
        (start, self.text.len() as u32)
    }

    fn name(&self, pair: &Pair) -> &str {
        &self.text[range(pair.name)]
    }

    fn value(&self, pair: &Pair) -> &str {
        &self.text[range(pair.value)]
    }

    /// Sorts the pairs by name and refuses a name given twice.
    fn sort_and_check(&mut self) -> ApiResult<()> {
        let text = &self.text;
        self.pairs.sort_unstable_by(|a, b| text[range(a.name)].cmp(&text[range(b.name)]));
        match self.pairs.windows(2).find(|w| self.name(&w[0]) == self.name(&w[1])) {
            Some(w) => Err(ApiError::invalid_parameter_value(format!(
                "The parameter {} is given more than once",
                self.name(&w[0])
            ))),
            None => Ok(()),
        }
    }

    /// Adds the pairs of a second source (the URL query string of a POST).
    pub fn merge(&mut self, other: Params) -> ApiResult<()> {
        if let Some(action) = other.action {
            if self.action.as_ref().is_some_and(|a| *a != action) {
                return Err(ApiError::invalid_parameter_value("The parameter Action is given more than once"));
            }
            self.action = Some(action);
        }
        let offset = self.text.len() as u32;
        self.text.push_str(&other.text);
        let shift = |(start, end): (u32, u32)| (start + offset, end + offset);
        self.pairs.extend(other.pairs.iter().map(|p| Pair { name: shift(p.name), value: shift(p.value) }));
        self.sort_and_check()
    }

    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// Removes and returns a raw value, for the auth layer's `X-Amz-*` pairs.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.take_str(name)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn take_str(&mut self, name: &str) -> Option<String> {
        self.take_pair(name).map(|pair| self.value(&pair).to_owned())
    }

    /// A value, left in place (for a log of what a request named).
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.pairs.binary_search_by(|p| self.name(p).cmp(name)).ok()?;
        Some(self.value(&self.pairs[i]))
    }

    /// Takes a parameter whose value does not matter.
    pub fn discard(&mut self, name: &str) {
        self.take_pair(name);
    }

    fn take_pair(&mut self, name: &str) -> Option<Pair> {
        let i = self.pairs.binary_search_by(|p| self.name(p).cmp(name)).ok()?;
        Some(self.pairs.remove(i))
    }

    /// A string that must be present and non-empty.
    pub fn require_str(&mut self, name: &str) -> ApiResult<String> {
        match self.take_str(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    pub fn take_bool(&mut self, name: &str) -> ApiResult<Option<bool>> {
        match self.take_str(name) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(ApiError::invalid_parameter_value(format!(
                    "Value ({v}) for parameter {name} is invalid. Expected a boolean (true or false)."
                ))),
            },
        }
    }

    pub fn take_dry_run(&mut self) -> ApiResult<bool> {
        Ok(self.take_bool("DryRun")?.unwrap_or(false))
    }

    pub fn take_int(&mut self, name: &str) -> ApiResult<Option<i64>> {
        match self.take_str(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid_parameter_value(format!(
                    "Value ({v}) for parameter {name} is invalid. Expected an integer."
                ))
            }),
        }
    }

    /// An IPv4 address in dotted-quad form.
    pub fn take_ipv4(&mut self, name: &str) -> ApiResult<Option<Ipv4Addr>> {
        match self.take_str(name) {
            None => Ok(None),
            Some(v) => parse_ipv4(name, &v).map(Some),
        }
    }

    /// `Prefix.N` for N = 1, 2, … in numeric order.
    pub fn take_list(&mut self, prefix: &str) -> ApiResult<Vec<String>> {
        let members = self.take_prefixed(prefix)?;
        let mut out = Vec::with_capacity(members.len());
        for m in &members {
            let rest = &self.text[m.rest.clone()];
            if !rest.is_empty() {
                return Err(ApiError::unknown_parameter(&format!("{prefix}.N{rest}")));
            }
            out.push(self.value_of(m).to_owned());
        }
        Ok(out)
    }

    /// `Prefix.N.Member…` grouped by N, in numeric order: each group maps the
    /// remainder after `Prefix.N.` to its value.
    pub fn take_structs(&mut self, prefix: &str) -> ApiResult<Vec<BTreeMap<String, String>>> {
        let members = self.take_prefixed(prefix)?;
        members
            .chunk_by(|a, b| a.n == b.n)
            .map(|group| {
                group
                    .iter()
                    .map(|m| Ok((self.member_name(prefix, m)?.to_owned(), self.value_of(m).to_owned())))
                    .collect()
            })
            .collect()
    }

    /// `Filter.N.Name` and `Filter.N.Value.M`.
    pub fn take_filters(&mut self) -> ApiResult<Vec<Filter>> {
        let members = self.take_prefixed("Filter")?;
        let mut filters = Vec::new();
        for group in members.chunk_by(|a, b| a.n == b.n) {
            let mut name = None;
            let mut values: Vec<(usize, String)> = Vec::new();
            for m in group {
                match self.member_name("Filter", m)? {
                    "Name" => name = Some(self.value_of(m).to_owned()),
                    member => match member.strip_prefix("Value.") {
                        Some(k) => values.push((parse_index("Filter.N.Value", k)?, self.value_of(m).to_owned())),
                        None => return Err(ApiError::unknown_parameter(&format!("Filter.N.{member}"))),
                    },
                }
            }
            let Some(name) = name else {
                return Err(ApiError::invalid_filter("null"));
            };
            values.sort_unstable_by_key(|(k, _)| *k);
            let documented = self
                .action
                .as_deref()
                .is_some_and(|action| model_params::documented_filters(action).binary_search(&name.as_str()).is_ok());
            filters.push(Filter { name, values: values.into_iter().map(|(_, v)| v).collect(), documented });
        }
        Ok(filters)
    }

    /// What follows `Prefix.N.` in a member's name; `Prefix.N` alone is not a
    /// parameter of a structure list.
    fn member_name(&self, prefix: &str, m: &Member) -> ApiResult<&str> {
        self.text[m.rest.clone()]
            .strip_prefix('.')
            .ok_or_else(|| ApiError::unknown_parameter(&format!("{prefix}.{}", m.n)))
    }

    fn value_of(&self, m: &Member) -> &str {
        &self.text[m.value.clone()]
    }

    /// `TagSpecification.N.ResourceType` and `TagSpecification.N.Tag.M.Key/Value`.
    pub fn take_tag_specifications(&mut self) -> ApiResult<Vec<TagSpecification>> {
        let mut specs = Vec::new();
        for group in self.take_structs("TagSpecification")? {
            let mut resource_type = None;
            let mut tags: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
            for (member, value) in group {
                if member == "ResourceType" {
                    resource_type = Some(value);
                } else if let Some(rest) = member.strip_prefix("Tag.") {
                    let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
                    let slot = tags.entry(parse_index("TagSpecification.N.Tag", n)?).or_default();
                    match field {
                        "Key" => slot.0 = Some(value),
                        "Value" => slot.1 = Some(value),
                        _ => {
                            return Err(ApiError::unknown_parameter(&format!("TagSpecification.N.Tag.N.{field}")));
                        }
                    }
                } else {
                    return Err(ApiError::unknown_parameter(&format!("TagSpecification.N.{member}")));
                }
            }
            let resource_type = resource_type.ok_or_else(|| {
                ApiError::missing_parameter("The request must contain the parameter TagSpecification.N.ResourceType")
            })?;
            let tags = tags
                .into_values()
                .map(|(k, v)| {
                    k.map(|k| (k, v.unwrap_or_default()))
                        .ok_or_else(|| ApiError::missing_parameter("The request must contain the parameter Tag.N.Key"))
                })
                .collect::<ApiResult<_>>()?;
            specs.push(TagSpecification { resource_type, tags });
        }
        Ok(specs)
    }

    /// `Tag.N.Key` / `Tag.N.Value` (CreateTags, DeleteTags). A missing value is
    /// `None`, which DeleteTags distinguishes from an empty one.
    pub fn take_tags(&mut self) -> ApiResult<Vec<(String, Option<String>)>> {
        let mut tags = Vec::new();
        for group in self.take_structs("Tag")? {
            let mut key = None;
            let mut value = None;
            for (member, v) in group {
                match member.as_str() {
                    "Key" => key = Some(v),
                    "Value" => value = Some(v),
                    _ => return Err(ApiError::unknown_parameter(&format!("Tag.N.{member}"))),
                }
            }
            let key = key.ok_or_else(|| ApiError::missing("Tag.N.Key"))?;
            tags.push((key, value));
        }
        Ok(tags)
    }

    /// Every `Prefix.N…` member, removed, in order of (N, remainder).
    fn take_prefixed(&mut self, prefix: &str) -> ApiResult<Vec<Member>> {
        // The names starting with `Prefix.` are one run of the sorted pairs.
        let starts = |name: &str| name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'));
        let first = self.pairs.partition_point(|p| sorts_before_members(self.name(p), prefix));
        let count = self.pairs[first..].iter().take_while(|p| starts(self.name(p))).count();
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut members = Vec::with_capacity(count);
        for pair in self.pairs.drain(first..first + count) {
            let name = range(pair.name);
            let after = name.start + prefix.len() + 1;
            let rest = &self.text[after..name.end];
            let end = rest.find('.').unwrap_or(rest.len());
            let n = parse_index(prefix, &rest[..end])?;
            members.push(Member { n, rest: after + end..name.end, value: range(pair.value) });
        }
        let text = &self.text;
        members.sort_by(|a, b| (a.n, &text[a.rest.clone()]).cmp(&(b.n, &text[b.rest.clone()])));
        Ok(members)
    }

    /// Ends decoding: any parameter no one took is refused (D14), naming it.
    pub fn finish(self, action: &str) -> ApiResult<()> {
        match self.pairs.first() {
            Some(pair) => Err(not_taken(action, self.name(pair))),
            None => Ok(()),
        }
    }

    /// The parameters not taken yet, as a map (tests compare it with form_urlencoded's).
    #[cfg(test)]
    fn to_map(&self) -> BTreeMap<String, String> {
        self.pairs.iter().map(|p| (self.name(p).to_owned(), self.value(p).to_owned())).collect()
    }
}

/// Whether `name` sorts before `{prefix}.`, where the members of a list
/// begin (without building that string).
fn sorts_before_members(name: &str, prefix: &str) -> bool {
    let (name, prefix) = (name.as_bytes(), prefix.as_bytes());
    let n = name.len().min(prefix.len());
    match name[..n].cmp(&prefix[..n]) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => name.get(prefix.len()).is_none_or(|b| *b < b'.'),
    }
}

/// The answer to a parameter `action` does not take (D14): "not supported
/// by eipd yet" when the EC2 model defines it (list indexes compared as
/// `N`, nested members included), UnknownParameter when it does not.
pub fn not_taken(action: &str, name: &str) -> ApiError {
    let path: Vec<&str> = name
        .split('.')
        .map(|part| if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) { "N" } else { part })
        .collect();
    if model_params::defines(action, &path.join(".")) {
        ApiError::unsupported_parameter(name)
    } else {
        ApiError::unknown_parameter(name)
    }
}

/// Appends one name or value of an `application/x-www-form-urlencoded` body,
/// decoded: `+` is a space and `%XX` a byte; bytes that are not UTF-8 once
/// decoded become U+FFFD, as in form_urlencoded (the tests compare the two).
/// Most components need no decoding at all.
fn push_form_decoded(out: &mut String, raw: &str) {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        out.push_str(raw);
        return;
    }
    // A literal `+` is a space, an encoded one (`%2B`) a plus: split at the
    // literal ones before percent-decoding.
    let mut decoded = Vec::with_capacity(raw.len());
    for (i, piece) in raw.split('+').enumerate() {
        if i > 0 {
            decoded.push(b' ');
        }
        decoded.extend(percent_encoding::percent_decode_str(piece));
    }
    out.push_str(&String::from_utf8_lossy(&decoded));
}

/// A list index as the SDKs write it: `1`, `2`, … Not `01` or `+1`, which
/// would name an index given already under another name.
fn parse_index(prefix: &str, n: &str) -> ApiResult<usize> {
    let canonical = !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
    match n.parse::<usize>() {
        Ok(i) if canonical && (1..=MAX_LIST_INDEX).contains(&i) => Ok(i),
        _ => Err(ApiError::invalid_parameter_value(format!(
            "The list index '{n}' in {prefix}.N is invalid: expected 1 to {MAX_LIST_INDEX}"
        ))),
    }
}

pub fn parse_ipv4(name: &str, value: &str) -> ApiResult<Ipv4Addr> {
    value.parse::<Ipv4Addr>().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. Expected an IPv4 address."
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lists_in_numeric_order() {
        let mut p = Params::decode(
            b"Action=DescribeAddresses&Version=2016-11-15&AllocationId.10=c&AllocationId.2=b&AllocationId.1=a",
        )
        .unwrap();
        assert_eq!(p.action(), Some("DescribeAddresses"));
        assert_eq!(p.take_list("AllocationId").unwrap(), vec!["a", "b", "c"]);
        p.finish("DescribeAddresses").unwrap();
    }

    #[test]
    fn decodes_filters() {
        let mut p = Params::decode(
            b"Filter.1.Name=domain&Filter.1.Value.1=vpc&Filter.1.Value.2=standard&Filter.2.Name=tag%3AOwner&Filter.2.Value.1=x",
        )
        .unwrap();
        let f = p.take_filters().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "domain");
        assert_eq!(f[0].values, vec!["vpc", "standard"]);
        assert_eq!(f[1].name, "tag:Owner");
    }

    #[test]
    fn filter_without_name_is_null_filter() {
        let mut p = Params::decode(b"Filter.1.Value.1=vpc").unwrap();
        assert_eq!(p.take_filters().unwrap_err().message, "The filter 'null' is invalid");
    }

    #[test]
    fn decodes_tag_specifications() {
        let mut p = Params::decode(
            b"TagSpecification.1.ResourceType=elastic-ip&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v&TagSpecification.1.Tag.2.Key=e",
        )
        .unwrap();
        let specs = p.take_tag_specifications().unwrap();
        assert_eq!(specs[0].resource_type, "elastic-ip");
        assert_eq!(specs[0].tags, vec![("k".into(), "v".into()), ("e".into(), String::new())]);
    }

    #[test]
    fn absurd_index_is_refused_without_allocating() {
        let mut p = Params::decode(b"AllocationId.99999999999999999999=a").unwrap();
        assert_eq!(p.take_list("AllocationId").unwrap_err().code, "InvalidParameterValue");
        let mut p = Params::decode(b"AllocationId.0=a").unwrap();
        assert!(p.take_list("AllocationId").is_err());
    }

    #[test]
    fn leftovers_are_unknown_or_unsupported() {
        let p = Params::decode(b"Bogus=1").unwrap();
        let e = p.finish("DisassociateAddress").unwrap_err();
        assert_eq!(e.code, "UnknownParameter");
        assert_eq!(e.message, "The parameter Bogus is not recognized");
        let p = Params::decode(b"IpamPoolId=x").unwrap();
        let e = p.finish("AllocateAddress").unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        // Nested: the model's members are not supported yet, others unknown.
        let e = not_taken("RunInstances", "NetworkInterface.N.SecurityGroupId.1");
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "InvalidParameterValue",
                "The parameter NetworkInterface.N.SecurityGroupId.1 is not supported by eipd yet"
            )
        );
        assert_eq!(not_taken("RunInstances", "NetworkInterface.2.InterfaceType").code, "InvalidParameterValue");
        assert_eq!(not_taken("RunInstances", "NetworkInterface.2.Bogus").code, "UnknownParameter");
        assert_eq!(not_taken("AllocateAddress", "TagSpecification.1.Tag.1.Colour").code, "UnknownParameter");
    }

    #[test]
    fn duplicates_and_bad_utf8_are_refused() {
        assert!(Params::decode(b"A=1&A=2").is_err());
        assert!(Params::decode(b"A=\xff").is_err());
        assert!(Params::decode(b"A=%FF").is_ok(), "percent-decoding is lossy, not refused");
    }

    #[test]
    fn decodes_as_form_urlencoded_does() {
        let body = "A=x+y%20z&B=%E2%82%AC%FF&&C&D==e%3D&%41b=1&E=%zz%4";
        let ours = Params::decode(body.as_bytes()).unwrap().to_map();
        let theirs: BTreeMap<String, String> =
            form_urlencoded::parse(body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours["A"], "x y z");
        assert_eq!(ours["D"], "=e=");
    }

    proptest::proptest! {
        /// Whatever the body, the decoder agrees with form_urlencoded's,
        /// except that it refuses a name given twice and text XML 1.0
        /// cannot carry.
        #[test]
        fn decoding_agrees_with_form_urlencoded(body in "([a-cA.=&+%0-9F]|é|%E2%82|%0D|%09){0,60}") {
            let theirs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let unique: BTreeMap<String, String> = theirs.iter().cloned().collect();
            match Params::decode(body.as_bytes()) {
                Ok(ours) => {
                    proptest::prop_assert_eq!(unique.len(), theirs.len());
                    proptest::prop_assert!(theirs.iter().all(|(k, v)| k.chars().chain(v.chars()).all(is_xml_char)));
                    let mut expected = unique;
                    proptest::prop_assert_eq!(ours.action.clone(), expected.remove("Action"));
                    expected.remove("Version");
                    proptest::prop_assert_eq!(ours.to_map(), expected);
                }
                Err(e) if e.message.contains("XML 1.0") => {
                    let bad = theirs.iter().any(|(k, v)| !k.chars().chain(v.chars()).all(is_xml_char));
                    proptest::prop_assert!(bad, "{e:?}");
                }
                Err(e) => {
                    proptest::prop_assert!(unique.len() < theirs.len(), "{e:?}");
                    proptest::prop_assert!(e.message.contains("more than once"));
                }
            }
        }
    }

    #[test]
    fn members_are_found_among_names_that_sort_around_them() {
        // '-' and '+' sort before '.', '/' and 'X' after it.
        let mut p = Params::decode(b"A=0&A-1=x&A%2B=y&A.2=b&A.1=a&A.10=c&A/1=z&AX.1=w&B.1=v").unwrap();
        assert_eq!(p.take_list("A").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(p.to_map().keys().collect::<Vec<_>>(), vec!["A", "A+", "A-1", "A/1", "AX.1", "B.1"]);
        assert!(p.take_list("A").unwrap().is_empty());
        assert_eq!(p.take_list("B").unwrap(), vec!["v"]);
    }

    #[test]
    fn structs_group_by_index_in_numeric_order() {
        let mut p = Params::decode(b"S.10.K=c&S.2.K=b&S.2.V=bv&S.1.K=a").unwrap();
        let groups = p.take_structs("S").unwrap();
        let keys: Vec<Vec<(&str, &str)>> =
            groups.iter().map(|g| g.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()).collect();
        assert_eq!(keys, vec![vec![("K", "a")], vec![("K", "b"), ("V", "bv")], vec![("K", "c")]]);
        assert!(p.is_empty());
        let mut p = Params::decode(b"S.1=x").unwrap();
        assert_eq!(p.take_structs("S").unwrap_err().message, "The parameter S.1 is not recognized");
    }

    #[test]
    fn filter_values_in_numeric_order_and_members_checked() {
        let mut p =
            Params::decode(b"Filter.1.Value.10=c&Filter.1.Value.2=b&Filter.1.Name=n&Filter.1.Value.1=a").unwrap();
        assert_eq!(
            p.take_filters().unwrap(),
            vec![Filter { name: "n".into(), values: vec!["a".into(), "b".into(), "c".into()], documented: false }]
        );
        let mut p = Params::decode(b"Filter.1.Name=n&Filter.1.Colour=x").unwrap();
        assert_eq!(p.take_filters().unwrap_err().message, "The parameter Filter.N.Colour is not recognized");
        let mut p = Params::decode(b"Filter.1=x").unwrap();
        assert_eq!(p.take_filters().unwrap_err().message, "The parameter Filter.1 is not recognized");
    }

    #[test]
    fn merged_sources_refuse_a_name_twice() {
        let mut p = Params::decode(b"Action=X&A.1=a").unwrap();
        p.merge(Params::decode(b"A.2=b&Action=X").unwrap()).unwrap();
        assert_eq!(p.action(), Some("X"));
        assert_eq!(p.take_list("A").unwrap(), vec!["a", "b"]);
        let mut p = Params::decode(b"A=1").unwrap();
        let e = p.merge(Params::decode(b"A=2").unwrap()).unwrap_err();
        assert_eq!(e.message, "The parameter A is given more than once");
    }

    proptest::proptest! {
        /// `take_list` takes exactly the `P.N` names, in numeric order, and
        /// leaves every other name, whatever sorts around them.
        #[test]
        fn lists_take_exactly_their_members(names in proptest::collection::btree_set("P?[.\\-/X]?[1-3]?[.]?[1-2]?", 0..12)) {
            let body: String = names.iter().enumerate().map(|(i, n)| format!("{n}=v{i}&")).collect();
            let mut p = Params::decode(body.as_bytes()).unwrap();
            let members: Vec<(usize, String)> = names.iter().enumerate().filter_map(|(i, n)| {
                let rest = n.strip_prefix("P.")?;
                Some((rest.split('.').next()?.parse().ok()?, format!("v{i}")))
            }).collect();
            let bad = names.iter().any(|n| n.strip_prefix("P.").is_some_and(|r| r.split('.').next().is_none_or(|k| k.parse::<usize>().map_or(true, |k| k == 0))));
            let nested = names.iter().any(|n| n.strip_prefix("P.").is_some_and(|r| r.contains('.')));
            match p.take_list("P") {
                Ok(list) => {
                    proptest::prop_assert!(!bad && !nested);
                    let mut expected = members;
                    expected.sort();
                    proptest::prop_assert_eq!(list, expected.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
                    let left: Vec<String> = p.to_map().into_keys().collect();
                    let others: Vec<String> = names.iter().filter(|n| !n.starts_with("P.") && !n.is_empty()).cloned().collect();
                    proptest::prop_assert_eq!(left, others);
                }
                Err(_) => proptest::prop_assert!(bad || nested),
            }
        }
    }

    #[test]
    fn booleans_and_ints() {
        let mut p = Params::decode(b"DryRun=TRUE&MaxResults=5&X=maybe").unwrap();
        assert!(p.take_dry_run().unwrap());
        assert_eq!(p.take_int("MaxResults").unwrap(), Some(5));
        assert!(p.take_bool("X").is_err());
    }
}
