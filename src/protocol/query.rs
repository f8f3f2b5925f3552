//! Decoding of the EC2 Query wire format.
//!
//! A request is a flat list of `Name=value` pairs where lists are flattened as
//! `Prefix.N` (1-based) and structures as `Prefix.N.Member`. [`Params`] holds
//! them and hands them out with `take_*` methods: whatever an operation did not
//! take is, by construction, a parameter it does not understand (D14).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::Ipv4Addr;
use std::ops::Bound;

use crate::error::{ApiError, ApiResult};
use crate::protocol::model_params;

/// Largest list index accepted in `X.N`: AWS caps lists far below this, and a
/// bound keeps `Filter.99999999.Name` from allocating.
pub const MAX_LIST_INDEX: usize = 1000;
/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 5000;

#[derive(Debug, Default, Clone)]
pub struct Params {
    /// Ordered by name: the members of `Prefix.N…` are one range of keys, and
    /// a request's few parameters cost less to compare than to hash.
    values: BTreeMap<String, String>,
    action: Option<String>,
}

/// One `Filter.N`: a name and its values (OR across values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpecification {
    pub resource_type: String,
    pub tags: Vec<(String, String)>,
}

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` body (or query string).
    /// Duplicate keys are refused: AWS does not define which one wins.
    pub fn decode(body: &[u8]) -> ApiResult<Self> {
        let Ok(body) = std::str::from_utf8(body) else {
            return Err(ApiError::malformed_query_string("The request body is not valid UTF-8"));
        };
        let mut values = BTreeMap::new();
        for pair in body.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if values.len() >= MAX_PARAMS {
                return Err(ApiError::invalid_parameter_value(format!(
                    "The request has more than {MAX_PARAMS} parameters"
                )));
            }
            if key.is_empty() {
                continue;
            }
            insert_once(&mut values, form_decoded(key), || form_decoded(value))?;
        }
        let action = values.remove("Action");
        values.remove("Version");
        Ok(Self { values, action })
    }

    /// Adds the pairs of a second source (the URL query string of a POST).
    pub fn merge(&mut self, other: Params) -> ApiResult<()> {
        if let Some(action) = other.action {
            if self.action.as_ref().is_some_and(|a| *a != action) {
                return Err(ApiError::invalid_parameter_value("The parameter Action is given more than once"));
            }
            self.action = Some(action);
        }
        for (k, v) in other.values {
            insert_once(&mut self.values, k, || v)?;
        }
        Ok(())
    }

    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// Removes and returns a raw value, for the auth layer's `X-Amz-*` pairs.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn take_str(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// A string that must be present and non-empty.
    pub fn require_str(&mut self, name: &str) -> ApiResult<String> {
        match self.take_str(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    pub fn take_bool(&mut self, name: &str) -> ApiResult<Option<bool>> {
        match self.values.remove(name) {
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
        match self.values.remove(name) {
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
        match self.values.remove(name) {
            None => Ok(None),
            Some(v) => parse_ipv4(name, &v).map(Some),
        }
    }

    /// `Prefix.N` for N = 1, 2, … in numeric order.
    pub fn take_list(&mut self, prefix: &str) -> ApiResult<Vec<String>> {
        let entries = self.take_prefixed(prefix)?;
        let mut out = Vec::with_capacity(entries.len());
        for ((_, rest), value) in entries {
            if !rest.is_empty() {
                return Err(ApiError::unknown_parameter(&format!("{prefix}.N{rest}")));
            }
            out.push(value);
        }
        Ok(out)
    }

    /// `Prefix.N.Member…` grouped by N, in numeric order: each group maps the
    /// remainder after `Prefix.N.` to its value.
    pub fn take_structs(&mut self, prefix: &str) -> ApiResult<Vec<BTreeMap<String, String>>> {
        let entries = self.take_prefixed(prefix)?;
        let mut groups: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
        for ((n, mut member), value) in entries {
            if !member.starts_with('.') {
                return Err(ApiError::unknown_parameter(&format!("{prefix}.{n}")));
            }
            member.remove(0);
            groups.entry(n).or_default().insert(member, value);
        }
        Ok(groups.into_values().collect())
    }

    /// `Filter.N.Name` and `Filter.N.Value.M`.
    pub fn take_filters(&mut self) -> ApiResult<Vec<Filter>> {
        let mut filters = Vec::new();
        for group in self.take_structs("Filter")? {
            let mut name = None;
            let mut values: BTreeMap<usize, String> = BTreeMap::new();
            for (member, value) in group {
                if member == "Name" {
                    name = Some(value);
                } else if let Some(n) = member.strip_prefix("Value.") {
                    values.insert(parse_index("Filter.N.Value", n)?, value);
                } else {
                    return Err(ApiError::unknown_parameter(&format!("Filter.N.{member}")));
                }
            }
            let Some(name) = name else {
                return Err(ApiError::invalid_filter("null"));
            };
            filters.push(Filter { name, values: values.into_values().collect() });
        }
        Ok(filters)
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

    /// Every `Prefix.N…` entry, removed, keyed by (N, remainder) in order.
    fn take_prefixed(&mut self, prefix: &str) -> ApiResult<BTreeMap<(usize, String), String>> {
        let mut out = BTreeMap::new();
        // Most lists an operation accepts are absent: a look at the first key
        // from `prefix` on says so without building the range's bounds.
        if !self
            .values
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .next()
            .is_some_and(|(key, _)| key.starts_with(prefix))
        {
            return Ok(out);
        }
        // The keys starting with `Prefix.` are one range: from `Prefix.` up
        // to `Prefix/`, the next string after every `Prefix.…`.
        let range = format!("{prefix}.")..format!("{prefix}/");
        for (key, value) in self.values.extract_if(range, |_, _| true) {
            let rest = &key[prefix.len() + 1..];
            let end = rest.find('.').unwrap_or(rest.len());
            let n = parse_index(prefix, &rest[..end])?;
            out.insert((n, rest[end..].to_owned()), value);
        }
        Ok(out)
    }

    /// Ends decoding: any parameter no one took is refused (D14), naming it.
    pub fn finish(self, action: &str) -> ApiResult<()> {
        match self.values.keys().next() {
            Some(name) => Err(not_taken(action, name)),
            None => Ok(()),
        }
    }
}

/// Adds a parameter, refusing a name given twice (AWS does not define which
/// one wins); `value` is decoded only for a new name.
fn insert_once(values: &mut BTreeMap<String, String>, key: String, value: impl FnOnce() -> String) -> ApiResult<()> {
    match values.entry(key) {
        Entry::Vacant(slot) => {
            slot.insert(value());
            Ok(())
        }
        Entry::Occupied(slot) => {
            Err(ApiError::invalid_parameter_value(format!("The parameter {} is given more than once", slot.key())))
        }
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

/// One name or value of an `application/x-www-form-urlencoded` body: `+` is
/// a space and `%XX` a byte; bytes that are not UTF-8 once decoded become
/// U+FFFD, as in form_urlencoded. Most components need no decoding at all.
fn form_decoded(raw: &str) -> String {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return raw.to_owned();
    }
    let spaced = if raw.contains('+') { Cow::Owned(raw.replace('+', " ")) } else { Cow::Borrowed(raw) };
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
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
        let ours = Params::decode(body.as_bytes()).unwrap().values;
        let theirs: BTreeMap<String, String> =
            form_urlencoded::parse(body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours["A"], "x y z");
        assert_eq!(ours["D"], "=e=");
    }

    proptest::proptest! {
        /// Whatever the body, the decoder agrees with form_urlencoded's,
        /// except that it refuses a name given twice.
        #[test]
        fn decoding_agrees_with_form_urlencoded(body in "([a-cA.=&+%0-9F]|é|%E2%82){0,60}") {
            let theirs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let unique: BTreeMap<String, String> = theirs.iter().cloned().collect();
            match Params::decode(body.as_bytes()) {
                Ok(ours) => {
                    proptest::prop_assert_eq!(unique.len(), theirs.len());
                    let mut expected = unique;
                    proptest::prop_assert_eq!(ours.action, expected.remove("Action"));
                    expected.remove("Version");
                    proptest::prop_assert_eq!(ours.values, expected);
                }
                Err(e) => {
                    proptest::prop_assert!(unique.len() < theirs.len(), "{e:?}");
                    proptest::prop_assert!(e.message.contains("more than once"));
                }
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
