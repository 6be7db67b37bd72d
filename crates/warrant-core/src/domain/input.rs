//! Typed reading of a JSON request at the edge ("parse, don't validate"): every member
//! is read through a rule, and every failure names the member's path and the rule,
//! in AWS's words. Unknown members are ignored, as AWS does. Values are never echoed,
//! so a sensitive member cannot leak through an error message.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A length range (in characters) and an optional pattern, as in the AWS model.
#[derive(Debug)]
pub struct StrRule {
    pub min: usize,
    pub max: usize,
    /// The model's pattern, matched against the whole value.
    pub pattern: Option<&'static str>,
}

impl StrRule {
    pub const fn len(min: usize, max: usize) -> Self {
        Self {
            min,
            max,
            pattern: None,
        }
    }

    pub const fn pattern(min: usize, max: usize, pattern: &'static str) -> Self {
        Self {
            min,
            max,
            pattern: Some(pattern),
        }
    }

    /// Check `value` against the rule; `path` names the member in the message.
    pub fn check(&self, path: &str, value: &str) -> Result<()> {
        let n = value.chars().count();
        if n < self.min {
            return Err(violation(
                path,
                &format!(
                    "Member must have length greater than or equal to {}",
                    self.min
                ),
            ));
        }
        if n > self.max {
            return Err(violation(
                path,
                &format!("Member must have length less than or equal to {}", self.max),
            ));
        }
        if let Some(p) = self.pattern {
            if !matches_pattern(p, value) {
                return Err(violation(
                    path,
                    &format!("Member must satisfy regular expression pattern: {p}"),
                ));
            }
        }
        Ok(())
    }
}

/// Whole-value match of one of the model's patterns; each is compiled once.
pub fn matches_pattern(pattern: &'static str, value: &str) -> bool {
    type Cache = std::sync::RwLock<HashMap<&'static str, Regex>>;
    static CACHE: LazyLock<Cache> = LazyLock::new(Default::default);
    if let Some(re) = CACHE.read().expect("pattern cache").get(pattern) {
        return re.is_match(value);
    }
    let re = Regex::new(&format!("^(?:{pattern})$")).expect("model pattern compiles");
    let ok = re.is_match(value);
    CACHE.write().expect("pattern cache").insert(pattern, re);
    ok
}

/// A ValidationException in AWS's words.
pub fn violation(path: &str, rule: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value at '{path}' failed to satisfy constraint: {rule}"
    ))
}

/// A ValidationException for a member the model has but warrant cannot honour: refused,
/// never silently ignored.
pub fn unsupported(path: &str, what: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value at '{path}' is not supported by warrant: {what}"
    ))
}

fn type_error(path: &str, expected: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value at '{path}' must be {expected}"
    ))
}

/// A JSON object being read, with its path from the request root.
pub struct Input<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl<'a> Input<'a> {
    /// The request body. An empty body reads as `{}`; anything but an object is refused.
    pub fn root(v: &'a Value) -> Result<Input<'a>> {
        match v {
            Value::Object(map) => Ok(Input {
                map,
                prefix: String::new(),
            }),
            Value::Null => Ok(Input {
                map: &EMPTY,
                prefix: String::new(),
            }),
            _ => Err(Error::validation("the request body must be a JSON object")),
        }
    }

    /// The path of this object itself.
    pub fn here(&self) -> &str {
        &self.prefix
    }

    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Whether the member is present (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn missing(&self, name: &str) -> Error {
        violation(&self.path(name), "Member must not be null")
    }

    pub fn opt_str(&self, name: &str, rule: &StrRule) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                rule.check(&self.path(name), s)?;
                Ok(Some(s.as_str()))
            }
            Some(_) => Err(type_error(&self.path(name), "a string")),
        }
    }

    /// A string whose model type defaults to `""` (`DefaultClientSecretType`, ...): SDKs
    /// that fill in defaults send `""` for "not given", so `""` reads as absent.
    pub fn opt_str_or_default(&self, name: &str, rule: &StrRule) -> Result<Option<&'a str>> {
        if let Some(Value::String(s)) = self.get(name) {
            if s.is_empty() {
                return Ok(None);
            }
        }
        self.opt_str(name, rule)
    }

    pub fn req_str(&self, name: &str, rule: &StrRule) -> Result<&'a str> {
        self.opt_str(name, rule)?.ok_or_else(|| self.missing(name))
    }

    /// A string that must be one of `allowed`.
    pub fn opt_enum(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.as_str())),
            Some(Value::String(_)) => Err(violation(
                &self.path(name),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            )),
            Some(_) => Err(type_error(&self.path(name), "a string")),
        }
    }

    pub fn req_enum(&self, name: &str, allowed: &[&str]) -> Result<&'a str> {
        self.opt_enum(name, allowed)?
            .ok_or_else(|| self.missing(name))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(&self.path(name), "a boolean")),
        }
    }

    /// An integer within `min..=max`.
    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let Some(i) = n.as_i64() else {
                    return Err(type_error(&self.path(name), "an integer"));
                };
                if i < min {
                    return Err(violation(
                        &self.path(name),
                        &format!("Member must have value greater than or equal to {min}"),
                    ));
                }
                if i > max {
                    return Err(violation(
                        &self.path(name),
                        &format!("Member must have value less than or equal to {max}"),
                    ));
                }
                Ok(Some(i))
            }
            Some(_) => Err(type_error(&self.path(name), "an integer")),
        }
    }

    pub fn opt_obj(&self, name: &str) -> Result<Option<Input<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Input {
                map,
                prefix: self.path(name),
            })),
            Some(_) => Err(type_error(&self.path(name), "an object")),
        }
    }

    pub fn req_obj(&self, name: &str) -> Result<Input<'a>> {
        self.opt_obj(name)?.ok_or_else(|| self.missing(name))
    }

    /// A list of strings, each checked by `item`, with `min..=max` items.
    pub fn opt_str_list(
        &self,
        name: &str,
        item: &StrRule,
        min: usize,
        max: usize,
    ) -> Result<Option<Vec<String>>> {
        let path = self.path(name);
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                check_count(&path, items.len(), min, max)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    let p = format!("{path}.{}.member", i + 1);
                    match v {
                        Value::String(s) => {
                            item.check(&p, s)?;
                            out.push(s.clone());
                        }
                        _ => return Err(type_error(&p, "a string")),
                    }
                }
                Ok(Some(out))
            }
            Some(_) => Err(type_error(&path, "a list")),
        }
    }

    /// A list of objects.
    pub fn opt_obj_list(&self, name: &str) -> Result<Option<Vec<Input<'a>>>> {
        let path = self.path(name);
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(map) => Ok(Input {
                        map,
                        prefix: format!("{path}.{}.member", i + 1),
                    }),
                    _ => Err(type_error(&format!("{path}.{}.member", i + 1), "an object")),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(type_error(&path, "a list")),
        }
    }

    /// A string-to-string map with at most `max` entries, keys and values checked.
    pub fn opt_str_map(
        &self,
        name: &str,
        key: &StrRule,
        value: &StrRule,
        max: usize,
    ) -> Result<Option<Vec<(String, String)>>> {
        let path = self.path(name);
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                check_count(&path, map.len(), 0, max)?;
                let mut out = Vec::with_capacity(map.len());
                for (k, v) in map {
                    key.check(&format!("{path}.key"), k)?;
                    match v {
                        Value::String(s) => {
                            value.check(&format!("{path}.{k}"), s)?;
                            out.push((k.clone(), s.clone()));
                        }
                        _ => return Err(type_error(&format!("{path}.{k}"), "a string")),
                    }
                }
                Ok(Some(out))
            }
            Some(_) => Err(type_error(&path, "a map of strings")),
        }
    }

    /// Refuse members other than `known`: for warrant's own structures, where a misspelt
    /// member would silently drop a check.
    pub fn refuse_unknown(&self, known: &[&str]) -> Result<()> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(Error::Validation(format!(
                "1 validation error detected: Value at '{}' is not a member of this structure (expected one of: {})",
                self.path(&k.chars().take(64).collect::<String>()),
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    /// The raw JSON of a member, for structures stored as given.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.get(name)
    }
}

fn check_count(path: &str, n: usize, min: usize, max: usize) -> Result<()> {
    if n < min {
        return Err(violation(
            path,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(violation(
            path,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAME: StrRule = StrRule::pattern(3, 5, "[a-z]+");

    #[test]
    fn strings_lengths_patterns_and_paths() {
        let v = json!({"a": "abc", "b": "ab", "c": "abcdef", "d": "ab1", "e": 5, "n": null,
                       "o": {"x": "a"}});
        let i = Input::root(&v).unwrap();
        assert_eq!(i.req_str("a", &NAME).unwrap(), "abc");
        let e = i.req_str("b", &NAME).unwrap_err().to_string();
        assert!(
            e.contains("'b'") && e.contains("greater than or equal to 3"),
            "{e}"
        );
        assert!(i
            .req_str("c", &NAME)
            .unwrap_err()
            .to_string()
            .contains("less than or equal to 5"));
        assert!(i
            .req_str("d", &NAME)
            .unwrap_err()
            .to_string()
            .contains("pattern"));
        assert!(i
            .req_str("e", &NAME)
            .unwrap_err()
            .to_string()
            .contains("must be a string"));
        assert!(i
            .req_str("n", &NAME)
            .unwrap_err()
            .to_string()
            .contains("must not be null"));
        assert!(i.opt_str("zz", &NAME).unwrap().is_none());
        let o = i.req_obj("o").unwrap();
        let e = o.req_str("x", &NAME).unwrap_err().to_string();
        assert!(e.contains("'o.x'"), "{e}");
    }

    #[test]
    fn empty_default_strings_read_as_absent() {
        let v = json!({"s": "", "t": "x", "n": 1});
        let i = Input::root(&v).unwrap();
        assert_eq!(
            i.opt_str_or_default("s", &StrRule::len(1, 5)).unwrap(),
            None
        );
        assert_eq!(
            i.opt_str_or_default("t", &StrRule::len(1, 5)).unwrap(),
            Some("x")
        );
        assert!(i.opt_str_or_default("n", &StrRule::len(1, 5)).is_err());
        assert!(i.opt_str("s", &StrRule::len(1, 5)).is_err());
    }

    #[test]
    fn errors_never_echo_values() {
        let v = json!({"s": "topsecret-value-that-is-long"});
        let i = Input::root(&v).unwrap();
        let e = i.req_str("s", &StrRule::len(1, 5)).unwrap_err().to_string();
        assert!(!e.contains("topsecret"), "{e}");
    }

    #[test]
    fn lists_maps_ints_enums() {
        let v = json!({"l": ["a", "bb"], "m": {"k": "v"}, "i": 21, "en": "X", "bad": [1]});
        let i = Input::root(&v).unwrap();
        assert_eq!(
            i.opt_str_list("l", &StrRule::len(1, 2), 0, 2)
                .unwrap()
                .unwrap()
                .len(),
            2
        );
        assert!(i.opt_str_list("l", &StrRule::len(1, 1), 0, 2).is_err());
        assert!(i.opt_str_list("l", &StrRule::len(1, 2), 0, 1).is_err());
        assert!(i.opt_str_list("bad", &StrRule::len(1, 2), 0, 1).is_err());
        assert_eq!(
            i.opt_str_map("m", &StrRule::len(1, 3), &StrRule::len(0, 3), 1)
                .unwrap()
                .unwrap(),
            vec![("k".to_string(), "v".to_string())]
        );
        assert!(i
            .opt_str_map("m", &StrRule::len(1, 3), &StrRule::len(0, 3), 0)
            .is_err());
        assert!(i
            .opt_int("i", 1, 20)
            .unwrap_err()
            .to_string()
            .contains("less than or equal to 20"));
        assert_eq!(i.opt_int("i", 1, 21).unwrap(), Some(21));
        assert!(i.opt_enum("en", &["A", "B"]).is_err());
        assert_eq!(i.opt_enum("en", &["X"]).unwrap(), Some("X"));
        assert!(Input::root(&json!([1])).is_err());
        assert!(Input::root(&Value::Null).is_ok());
    }
}
