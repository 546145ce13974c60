//! The schema of a resource kind's normalised configuration, and the checks that hold policies
//! to it.
//!
//! Each collector declares, next to the code that builds a configuration, the paths it writes
//! and their JSON types (the fields of its [`crate::registry::ResourceKind`], read as a [`Schema`]). At load, a policy
//! is checked against the schema of its `resource_type` ([`Schema::check_condition`]): a path the
//! schema does not have, or an operator that cannot apply to the path's type (`gt` on a string,
//! `cidr_contains` on a boolean), is an error naming the place in the condition
//! (`fails_when.any[1].path`) and the nearest known name ("did you mean `Status`?"). The policy's
//! examples are checked the same way ([`Schema::check_value`]), so an example cannot agree with a
//! misspelt condition. An integration test runs the real collectors on the local AWS and checks
//! their output against the same declaration, so the schema cannot drift from the collector.
//!
//! A [`Type::Any`] node (a bucket policy document) is free-form JSON: nothing below it is checked.
//! Every configuration may carry the [`UNREADABLE`] list ([`UNREADABLE_FIELD`]).

use std::collections::BTreeSet;

use serde_json::Value;

use super::cond::{Op, PolicyCondition, PortRef, Quantifier};
use crate::model::UNREADABLE;

/// The JSON type of a value in a normalised configuration.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    String,
    Number,
    Bool,
    /// An object with exactly these fields (no others).
    Object(&'static [Field]),
    /// An array whose items all have this type.
    Array(&'static Type),
    /// Free-form JSON (a policy document): not checked below this point.
    Any,
    /// The configuration of a registered kind, as a policy sees it: the kind's fields, its
    /// `ResourceArn` and its `Related` resources ([`crate::registry::Relation`]). A policy's root;
    /// the items of `Related.<name>`.
    Kind(&'static str),
    /// The `Related` object of a kind: one array per relation it declares.
    RelatedOf(&'static str),
}

/// The field holding a related resource's ARN in `Related.<name>[i]`.
pub const RESOURCE_ARN: &str = "ResourceArn";
/// The field holding a configuration's related resources.
pub const RELATED: &str = "Related";

/// The fields of the registered kind `resource_type` (none for an unknown type).
fn kind_fields(resource_type: &str) -> &'static [Field] {
    crate::registry::kind(resource_type)
        .map(|k| k.fields)
        .or_else(|| crate::relate::derived_fields(resource_type))
        .unwrap_or(&[])
}

/// The relation names of the kind `resource_type`.
fn relation_names(resource_type: &str) -> Vec<&'static str> {
    crate::registry::kind(resource_type)
        .map(|k| k.relations.iter().map(|r| r.name).collect())
        .unwrap_or_default()
}

impl Type {
    /// The type's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Number => "number",
            Type::Bool => "boolean",
            Type::Object(_) | Type::Kind(_) | Type::RelatedOf(_) => "object",
            Type::Array(_) => "array",
            Type::Any => "any JSON",
        }
    }
}

/// One field of an object: its name, type, and whether it may be `null` or absent.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Type,
    /// The collector may write `null` (the setting is not configured).
    pub nullable: bool,
    /// The collector may leave the field out.
    pub optional: bool,
}

impl Field {
    /// A field that is always present and never `null`.
    pub const fn new(name: &'static str, ty: Type) -> Self {
        Field {
            name,
            ty,
            nullable: false,
            optional: false,
        }
    }

    /// The same field, which may be `null`.
    pub const fn nullable(self) -> Self {
        Field {
            nullable: true,
            ..self
        }
    }

    /// The same field, which may be absent.
    pub const fn optional(self) -> Self {
        Field {
            optional: true,
            ..self
        }
    }
}

/// The parts of a configuration a collector could not read (see [`crate::model::UNREADABLE`]):
/// absent when everything was read.
pub const UNREADABLE_FIELD: Field = Field::new(
    UNREADABLE,
    Type::Array(&Type::Object(&[
        Field::new("Path", Type::String),
        Field::new("Operation", Type::String),
        Field::new("Code", Type::String),
    ])),
)
.optional();

/// The normalised configuration of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The CloudFormation type, e.g. `AWS::S3::Bucket`.
    pub resource_type: &'static str,
    /// The top-level fields (include [`UNREADABLE_FIELD`] where the collector may write it).
    pub fields: &'static [Field],
}

/// How strictly [`Schema::check_value`] reads a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// A policy example: any field may be left out.
    Partial,
    /// A collector's output: every field that is not optional must be present.
    Complete,
}

/// A place in a condition or a value that does not conform, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: `fails_when.all[1].path`, `examples.pass[0].Versioning.Statuss`.
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The schema of `resource_type`, from its kind in the registry ([`crate::registry`]), or an
/// error message with the nearest registered type.
pub fn for_resource_type(resource_type: &str) -> Result<Schema, String> {
    kind_for(resource_type).map(|kind| kind.schema())
}

/// The registered kind of `resource_type`, or an error message with the nearest registered type.
pub fn kind_for(resource_type: &str) -> Result<&'static crate::registry::ResourceKind, String> {
    crate::registry::kind(resource_type).ok_or_else(|| {
        let names: Vec<&str> = crate::registry::kinds()
            .map(|k| k.resource_type())
            .collect();
        format!(
            "resource_type {resource_type:?} is not a type qrie inventories{}",
            suggestion(resource_type, &names)
        )
    })
}

/// ", did you mean `X`?" for the nearest candidate, or the list of candidates when none is close.
pub fn suggestion(wrong: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&wrong.to_lowercase(), &c.to_lowercase()), *c))
        .min();
    match best {
        Some((distance, name)) if distance <= (wrong.chars().count() / 3).max(2) => {
            format!("; did you mean `{name}`?")
        }
        _ if candidates.is_empty() => String::new(),
        _ => format!("; expected one of: {}", candidates.join(", ")),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// Where a path through the schema ends: the type there (`None` below an `Any`).
fn walk(ty: Type, segments: &[String]) -> Result<Option<Type>, (usize, String)> {
    let mut current = ty;
    for (i, segment) in segments.iter().enumerate() {
        if let Type::Kind(kind) = current {
            if segment != RESOURCE_ARN && segment != RELATED {
                current = Type::Object(kind_fields(kind));
            }
        }
        current = match current {
            Type::Any => return Ok(None),
            Type::Kind(_) if segment == RESOURCE_ARN => Type::String,
            Type::Kind(kind) if segment == RELATED => Type::RelatedOf(kind),
            Type::RelatedOf(kind) => match crate::registry::relation(kind, segment) {
                Some(relation) => Type::Array(&relation.target),
                None => {
                    return Err((
                        i,
                        format!(
                            "`{segment}` is not a relation of {kind}{}",
                            suggestion(segment, &relation_names(kind))
                        ),
                    ))
                }
            },
            Type::Object(fields) => match fields.iter().find(|f| f.name == segment) {
                Some(field) => field.ty,
                None => {
                    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    return Err((
                        i,
                        format!(
                            "`{segment}` is not a field of {}{}",
                            if i == 0 {
                                "the configuration".to_owned()
                            } else {
                                format!("`{}`", segments[..i].join("."))
                            },
                            suggestion(segment, &names)
                        ),
                    ));
                }
            },
            Type::Array(item) if segment.parse::<usize>().is_ok() => *item,
            other => {
                return Err((
                    i,
                    format!(
                        "`{}` is a {}; it has no field `{segment}`",
                        segments[..i].join("."),
                        other.name()
                    ),
                ))
            }
        };
    }
    Ok(Some(current))
}

/// The types an operator can apply to, for messages and checks.
fn operator_applies(op: &Op, ty: Type) -> Result<(), String> {
    let scalar_value_fits = |value: &Value| match (ty, value) {
        (_, Value::Null) => true,
        (Type::String, Value::String(_)) => true,
        (Type::Bool, Value::Bool(_)) => true,
        (Type::Bool, Value::String(s)) => {
            s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
        }
        (Type::Number, Value::Number(_)) => true,
        (Type::Number, Value::String(s)) => s.parse::<f64>().is_ok(),
        _ => false,
    };
    let name = op.name();
    match (op, ty) {
        (_, Type::Any) | (Op::Exists | Op::NotExists, _) => Ok(()),
        (
            Op::Allows(_)
            | Op::EscalatesPrivilege
            | Op::TrustsAccountsOutside(_)
            | Op::TrustsServicesUnscoped,
            Type::Object(_) | Type::Array(_) | Type::Kind(_),
        ) => Ok(()),
        (Op::GrantsOutsideAccount(_), Type::Object(_) | Type::Kind(_)) => Ok(()),
        (Op::ExposesPort(_) | Op::AdmitsWorldTcp(_), Type::Object(_) | Type::Kind(_)) => Ok(()),
        (Op::ExposesPort(_), _) => Err(format!(
            "operator `{name}` reads a security group rule (an item of `IngressRules`), but the \
             path is a {}",
            ty.name()
        )),
        (Op::AdmitsWorldTcp(_), _) => Err(format!(
            "operator `{name}` reads a network ACL, but the path is a {}",
            ty.name()
        )),
        (Op::GrantsOutsideAccount(_), _) => Err(format!(
            "operator `{name}` reads a resource policy document, but the path is a {}",
            ty.name()
        )),
        (
            Op::Allows(_)
            | Op::EscalatesPrivilege
            | Op::TrustsAccountsOutside(_)
            | Op::TrustsServicesUnscoped,
            _,
        ) => Err(format!(
            "operator `{name}` reads IAM policy documents, but the path is a {}",
            ty.name()
        )),
        (_, Type::Object(_) | Type::Array(_) | Type::Kind(_) | Type::RelatedOf(_)) => Err(format!(
            "operator `{name}` cannot apply to an {}; only `exists` and `not_exists` can \
             (or quantify over an array with any_item, all_items, no_item)",
            ty.name()
        )),
        (Op::Eq(v) | Op::Neq(v), _) => {
            if scalar_value_fits(v) {
                Ok(())
            } else {
                Err(format!(
                    "operator `{name}` compares a {} with {v}, which it can never equal",
                    ty.name()
                ))
            }
        }
        (Op::In(values) | Op::NotIn(values), _) => {
            match values.iter().find(|v| !scalar_value_fits(v)) {
                None => Ok(()),
                Some(v) => Err(format!(
                    "operator `{name}` lists {v}, which a {} can never equal",
                    ty.name()
                )),
            }
        }
        (Op::Gt(_) | Op::Gte(_) | Op::Lt(_) | Op::Lte(_), Type::Number) => Ok(()),
        (Op::Gt(_) | Op::Gte(_) | Op::Lt(_) | Op::Lte(_), _) => Err(format!(
            "operator `{name}` compares numbers, but the path is a {}",
            ty.name()
        )),
        (_, Type::String) => Ok(()),
        _ => Err(format!(
            "operator `{name}` applies to strings, but the path is a {}",
            ty.name()
        )),
    }
}

impl Schema {
    /// The configuration's root type.
    pub fn root(&self) -> Type {
        Type::Object(self.fields)
    }

    /// What a policy reads: the configuration with its `ResourceArn` and `Related` resources
    /// (for a registered kind; the bare configuration otherwise).
    pub fn policy_root(&self) -> Type {
        if crate::registry::kind(self.resource_type).is_some() {
            Type::Kind(self.resource_type)
        } else {
            self.root()
        }
    }

    /// Checks a compiled condition against the schema; `location` is where it sits in the
    /// policy file (`fails_when`).
    pub fn check_condition(
        &self,
        condition: &PolicyCondition,
        location: &str,
    ) -> Result<(), Violation> {
        let root = self.policy_root();
        check_condition(root, root, condition, location)
    }

    /// Checks a policy example (a configuration, possibly with `Related` resources) against the
    /// schema; returns every violation.
    pub fn check_example(&self, value: &Value, location: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        check_value(
            self.policy_root(),
            false,
            value,
            location,
            Strictness::Partial,
            &mut out,
        );
        out
    }

    /// Checks a configuration value against the schema; `location` prefixes the paths in errors.
    /// Returns every violation (empty when the value conforms).
    pub fn check_value(
        &self,
        value: &Value,
        location: &str,
        strictness: Strictness,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        check_value(self.root(), false, value, location, strictness, &mut out);
        out
    }

    /// Every path the schema declares, dotted, with `[]` for an array's items
    /// (`Acl.Grants[].Permission`); nothing below an `Any` node.
    pub fn paths(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        declared_paths(self.root(), "", &mut out);
        out
    }

    /// The declared paths (as in [`Schema::paths`]) that are present in `value`, `null` or not.
    pub fn present_paths(&self, value: &Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        present_paths(self.root(), value, "", &mut out);
        out
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn check_condition(
    top: Type,
    ty: Type,
    condition: &PolicyCondition,
    location: &str,
) -> Result<(), Violation> {
    let at = |suffix: &str, message: String| Violation {
        location: format!("{location}.{suffix}"),
        message,
    };
    match condition {
        PolicyCondition::All(list) | PolicyCondition::Any(list) => {
            let form = if matches!(condition, PolicyCondition::All(_)) {
                "all"
            } else {
                "any"
            };
            for (i, inner) in list.iter().enumerate() {
                check_condition(top, ty, inner, &format!("{location}.{form}[{i}]"))?;
            }
            Ok(())
        }
        PolicyCondition::Not(inner) => check_condition(top, ty, inner, &format!("{location}.not")),
        PolicyCondition::Leaf { path, op } => {
            if let Op::ExposesPort(PortRef::Top(port)) | Op::AdmitsWorldTcp(PortRef::Top(port)) = op
            {
                match walk(top, port.segments()).map_err(|(_, m)| at("value.path", m))? {
                    None | Some(Type::Number | Type::Any) => {}
                    Some(other) => {
                        return Err(at(
                            "value.path",
                            format!("`{port}` is a {}, not a port number", other.name()),
                        ))
                    }
                }
            }
            let Some(target) = walk(ty, path.segments()).map_err(|(_, m)| at("path", m))? else {
                return Ok(());
            };
            operator_applies(op, target).map_err(|m| at("op", format!("{m} (path `{path}`)")))
        }
        PolicyCondition::Each {
            path,
            quantifier,
            inner,
        } => {
            let name = match quantifier {
                Quantifier::AnyItem => "any_item",
                Quantifier::AllItems => "all_items",
                Quantifier::NoItem => "no_item",
            };
            let item = match walk(ty, path.segments()).map_err(|(_, m)| at("path", m))? {
                None | Some(Type::Any) => Type::Any,
                Some(Type::Array(item)) => *item,
                Some(Type::Object(_) | Type::Kind(_) | Type::RelatedOf(_)) => {
                    return Err(at(
                        "path",
                        format!("`{name}` needs an array, but `{path}` is an object"),
                    ))
                }
                // A scalar counts as a one-element array.
                Some(scalar) => scalar,
            };
            check_condition(top, item, inner, &format!("{location}.{name}"))
        }
    }
}

fn check_value(
    ty: Type,
    nullable: bool,
    value: &Value,
    location: &str,
    strictness: Strictness,
    out: &mut Vec<Violation>,
) {
    let mut wrong = |message: String| {
        out.push(Violation {
            location: location.to_owned(),
            message,
        })
    };
    match (ty, value) {
        (Type::Any, _) => {}
        (_, Value::Null) if nullable => {}
        (Type::String, Value::String(_))
        | (Type::Number, Value::Number(_))
        | (Type::Bool, Value::Bool(_)) => {}
        (Type::Array(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                check_value(
                    *item,
                    false,
                    v,
                    &format!("{location}[{i}]"),
                    strictness,
                    out,
                );
            }
        }
        (Type::Kind(kind), Value::Object(map)) => {
            let mut own = serde_json::Map::new();
            for (key, v) in map {
                match key.as_str() {
                    RESOURCE_ARN => check_value(
                        Type::String,
                        false,
                        v,
                        &join(location, key),
                        strictness,
                        out,
                    ),
                    RELATED => check_value(
                        Type::RelatedOf(kind),
                        false,
                        v,
                        &join(location, key),
                        strictness,
                        out,
                    ),
                    _ => {
                        own.insert(key.clone(), v.clone());
                    }
                }
            }
            check_value(
                Type::Object(kind_fields(kind)),
                false,
                &Value::Object(own),
                location,
                strictness,
                out,
            );
        }
        (Type::RelatedOf(kind), Value::Object(map)) => {
            for (key, v) in map {
                match crate::registry::relation(kind, key) {
                    Some(relation) => check_value(
                        Type::Array(&relation.target),
                        false,
                        v,
                        &join(location, key),
                        strictness,
                        out,
                    ),
                    None => out.push(Violation {
                        location: join(location, key),
                        message: format!(
                            "`{key}` is not a relation of {kind}{}",
                            suggestion(key, &relation_names(kind))
                        ),
                    }),
                }
            }
        }
        (Type::Object(fields), Value::Object(map)) => {
            for (key, v) in map {
                match fields.iter().find(|f| f.name == key) {
                    Some(field) => check_value(
                        field.ty,
                        field.nullable,
                        v,
                        &join(location, key),
                        strictness,
                        out,
                    ),
                    None => {
                        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                        out.push(Violation {
                            location: join(location, key),
                            message: format!(
                                "`{key}` is not a field of the schema{}",
                                suggestion(key, &names)
                            ),
                        });
                    }
                }
            }
            if strictness == Strictness::Complete {
                for field in fields
                    .iter()
                    .filter(|f| !f.optional && !map.contains_key(f.name))
                {
                    out.push(Violation {
                        location: join(location, field.name),
                        message: "required field is missing".to_owned(),
                    });
                }
            }
        }
        (_, other) => wrong(format!(
            "expected {}{}, found {}",
            ty.name(),
            if nullable { " or null" } else { "" },
            json_type(other)
        )),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn declared_paths(ty: Type, prefix: &str, out: &mut BTreeSet<String>) {
    match ty {
        Type::Object(fields) => {
            for field in fields {
                let path = join(prefix, field.name);
                declared_paths(field.ty, &path, out);
                out.insert(path);
            }
        }
        Type::Array(item) => declared_paths(*item, &format!("{prefix}[]"), out),
        _ => {}
    }
}

fn present_paths(ty: Type, value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match (ty, value) {
        (Type::Object(fields), Value::Object(map)) => {
            for field in fields {
                if let Some(v) = map.get(field.name) {
                    let path = join(prefix, field.name);
                    present_paths(field.ty, v, &path, out);
                    out.insert(path);
                }
            }
        }
        (Type::Array(item), Value::Array(items)) => {
            for v in items {
                present_paths(*item, v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BLOCK: &[Field] = &[Field::new("On", Type::Bool)];
    const SCHEMA: Schema = Schema {
        resource_type: "AWS::Test::Thing",
        fields: &[
            Field::new("Name", Type::String),
            Field::new("Size", Type::Number).optional(),
            Field::new("Block", Type::Object(BLOCK)).nullable(),
            Field::new(
                "Rules",
                Type::Array(&Type::Object(&[Field::new("Algorithm", Type::String)])),
            ),
            Field::new("Document", Type::Any).nullable(),
            UNREADABLE_FIELD,
        ],
    };

    fn check(yaml: &str) -> Result<(), String> {
        let raw = serde_yaml::from_str(yaml).unwrap();
        let condition = PolicyCondition::compile(&raw, "fails_when").unwrap();
        SCHEMA
            .check_condition(&condition, "fails_when")
            .map_err(|v| v.to_string())
    }

    #[test]
    fn a_relation_is_checked_with_the_related_kind_s_schema() {
        let instance = for_resource_type("AWS::EC2::Instance").unwrap();
        let check = |yaml: &str| {
            let raw = serde_yaml::from_str(yaml).unwrap();
            let condition = PolicyCondition::compile(&raw, "fails_when").unwrap();
            instance
                .check_condition(&condition, "fails_when")
                .map_err(|v| v.to_string())
        };
        // given paths through the instance's subnet to its route table
        assert_eq!(
            check("{path: Related.Subnet, any_item: {path: Related.RouteTable, any_item: {path: Main, op: eq, value: true}}}"),
            Ok(())
        );
        // then a misspelt relation gets the nearest one
        let wrong =
            check("{path: Related.Subnett, any_item: {path: SubnetId, op: exists}}").unwrap_err();
        assert!(
            wrong.contains("not a relation of AWS::EC2::Instance; did you mean `Subnet`?"),
            "{wrong}"
        );
        // and a path of the related kind is checked against that kind
        let wrong = check(
            "{path: Related.Subnet, any_item: {path: MapPublicIpOnLaunc, op: eq, value: true}}",
        )
        .unwrap_err();
        assert!(
            wrong.contains("did you mean `MapPublicIpOnLaunch`?"),
            "{wrong}"
        );
        // and an operator that cannot apply there is refused
        let wrong = check("{path: Related.Subnet, any_item: {path: SubnetId, op: gt, value: 1}}")
            .unwrap_err();
        assert!(wrong.contains("compares numbers"), "{wrong}");
        // and a port read from the document must be a number there
        let wrong = check("{path: Related.SecurityGroups, any_item: {path: IngressRules, any_item: {op: exposes_port, value: {path: InstanceId}}}}").unwrap_err();
        assert!(wrong.contains("not a port number"), "{wrong}");
        // and an example's related resources are checked too
        let bad = instance.check_example(
            &json!({"Related": {"Subnet": [{"SubnetId": "s", "Related": {"RouteTable": [{"Mian": true}]}}]}}),
            "examples.fail[0]",
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(
            bad[0].location,
            "examples.fail[0].Related.Subnet[0].Related.RouteTable[0].Mian"
        );
    }

    #[test]
    fn the_distance_counts_edits() {
        assert_eq!(edit_distance("Status", "Statuss"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            suggestion("Nmae", &["Name", "Size"]),
            "; did you mean `Name`?"
        );
        assert_eq!(
            suggestion("Zebra", &["Name", "Size"]),
            "; expected one of: Name, Size"
        );
    }

    #[test]
    fn conditions_on_declared_paths_pass() {
        // Given conditions that read declared paths with fitting operators, When checked,
        // Then they conform (including anything below a free-form document)
        for ok in [
            "{path: Name, op: starts_with, value: qrie-}",
            "{path: Size, op: gt, value: 3}",
            "{path: Block.On, op: neq, value: true}",
            "{path: Block, op: not_exists}",
            "{path: Rules, any_item: {path: Algorithm, op: in, value: [AES256]}}",
            "{path: Document.Statement, any_item: {path: Principal.AWS, op: eq, value: '*'}}",
            "{path: Unreadable, any_item: {path: Code, op: eq, value: AccessDenied}}",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn a_misspelt_path_names_the_place_and_the_nearest_field() {
        let err =
            check("{all: [{path: Name, op: exists}, {path: Block.Onn, op: eq, value: true}]}")
                .unwrap_err();
        assert!(err.starts_with("fails_when.all[1].path:"), "{err}");
        assert!(err.contains("did you mean `On`?"), "{err}");
        // Inside a quantifier, paths are relative to the items
        let err =
            check("{path: Rules, any_item: {path: Algorithim, op: eq, value: x}}").unwrap_err();
        assert!(err.starts_with("fails_when.any_item.path:"), "{err}");
        assert!(err.contains("did you mean `Algorithm`?"), "{err}");
        // A path through a scalar says so
        let err = check("{path: Name.First, op: exists}").unwrap_err();
        assert!(err.contains("`Name` is a string"), "{err}");
    }

    #[test]
    fn an_operator_that_cannot_apply_to_the_type_is_rejected() {
        for (bad, expected) in [
            ("{path: Name, op: gt, value: 3}", "compares numbers"),
            (
                "{path: Block.On, op: cidr_contains, value: 10.0.0.1}",
                "applies to strings",
            ),
            (
                "{path: Block, op: eq, value: true}",
                "cannot apply to an object",
            ),
            ("{path: Block.On, op: eq, value: yes}", "can never equal"),
            ("{path: Size, op: in, value: [1, big]}", "can never equal"),
            ("{path: Block, any_item: {op: exists}}", "needs an array"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
            assert!(err.starts_with("fails_when."), "{bad}: {err}");
        }
    }

    #[test]
    fn values_are_checked_field_by_field() {
        // Given a partial example with a misspelt field, a wrong type and a null where allowed
        let example =
            json!({"Name": "n", "Blok": null, "Size": "big", "Rules": [{"Algorithm": 1}]});
        // When checked, Then each problem is named at its place
        let mut found: Vec<String> = SCHEMA
            .check_value(&example, "examples.pass[0]", Strictness::Partial)
            .iter()
            .map(ToString::to_string)
            .collect();
        found.sort();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("examples.pass[0].Blok:") && found[0].contains("`Block`"));
        assert!(found[1].contains("Rules[0].Algorithm: expected string, found number"));
        assert!(found[2].contains("Size: expected number, found string"));
        // And a complete value must have every required field
        let missing = SCHEMA.check_value(&json!({"Name": "n"}), "", Strictness::Complete);
        let places: Vec<&str> = missing.iter().map(|v| v.location.as_str()).collect();
        assert_eq!(places, ["Block", "Rules", "Document"]);
    }

    #[test]
    fn declared_and_present_paths_use_the_same_notation() {
        let declared = SCHEMA.paths();
        assert!(declared.contains("Rules[].Algorithm"));
        assert!(declared.contains("Unreadable[].Code"));
        assert!(!declared.iter().any(|p| p.starts_with("Document.")));
        let present = SCHEMA.present_paths(
            &json!({"Name": "n", "Block": null, "Rules": [{"Algorithm": "a"}], "Document": {"X": 1}}),
        );
        assert_eq!(
            present.into_iter().collect::<Vec<_>>(),
            ["Block", "Document", "Name", "Rules", "Rules[].Algorithm"]
        );
    }

    #[test]
    fn an_unknown_resource_type_suggests_the_nearest() {
        let err = for_resource_type("AWS::S3::Buckett").unwrap_err();
        assert!(err.contains("did you mean `AWS::S3::Bucket`?"), "{err}");
        assert!(for_resource_type("AWS::S3::Bucket").is_ok());
    }
}
