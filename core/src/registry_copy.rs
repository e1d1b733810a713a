//! What a Citus coordinator copies to its workers: everything a worker needs to verify tokens as
//! the coordinator does. Providers (their configs, secrets and keys included), revocations, and
//! the directory as verification reads it (users with their state and the keys tokens are matched
//! by, groups, memberships; not the raw events). One value, serialized the same way on every
//! node, so that its fingerprint tells whether two nodes hold the same registry.
//!
//! Times are PostgreSQL `timestamptz` values as stored (microseconds since 2000-01-01 UTC,
//! `i64::MAX` and `i64::MIN` for ±infinity), so that they travel exactly, whatever the sessions'
//! time zones.

use aws_lc_rs::digest;
use serde_json::{json, Map, Value};

const FORMAT: &str = "pg_idp registry copy v1";

/// A revocation (`idp.revocation_list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The provider it was made under.
    pub provider: String,
    /// `user` or `session`.
    pub kind: String,
    /// The user id or session id.
    pub subject: String,
    /// For a user: tokens issued before this fail.
    pub issued_before: Option<i64>,
    /// When it was made.
    pub created_at: i64,
}

/// A directory user (`idp.directory_users`, without the raw event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The provider whose directory it is in.
    pub provider: String,
    /// The directory user id.
    pub id: String,
    /// The id the customer's identity provider gave the user.
    pub idp_id: Option<String>,
    /// The email as the directory gave it.
    pub email: Option<String>,
    /// The email folded by [`crate::directory::email_key`].
    pub email_key: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// `active`, `inactive`, `suspended`, `deleted`...
    pub state: String,
    /// The time of the event that last set it.
    pub event_at: i64,
}

/// A directory group (`idp.directory_groups`, without the raw event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryGroup {
    /// The provider whose directory it is in.
    pub provider: String,
    /// The group id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// The time of the event that last set it.
    pub event_at: i64,
}

/// A user's membership of a group (`idp.directory_memberships`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryMembership {
    /// The provider whose directory it is in.
    pub provider: String,
    /// The group id.
    pub group_id: String,
    /// The directory user id.
    pub user_id: String,
    /// Whether the user is (still) a member.
    pub member: bool,
    /// The time of the event that last set it.
    pub event_at: i64,
}

/// One node's registry, as copied between nodes. Every list is kept sorted by its key, so that
/// equal registries serialize (and fingerprint) alike whatever order they were read in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegistryCopy {
    providers: Vec<Value>,
    revocations: Vec<Revocation>,
    users: Vec<DirectoryUser>,
    groups: Vec<DirectoryGroup>,
    memberships: Vec<DirectoryMembership>,
}

impl RegistryCopy {
    /// A registry from what a node holds: the providers' configs as stored (each an object with
    /// a string `provider`), its revocations and its directory. Refuses a config without a
    /// name and two entries with the same key (which no node's tables can hold).
    pub fn new(
        providers: Vec<Value>,
        revocations: Vec<Revocation>,
        users: Vec<DirectoryUser>,
        groups: Vec<DirectoryGroup>,
        memberships: Vec<DirectoryMembership>,
    ) -> Result<RegistryCopy, String> {
        let mut named = Vec::with_capacity(providers.len());
        for p in providers {
            let name =
                p.get("provider").and_then(Value::as_str).ok_or("a provider config without a \"provider\" name")?;
            named.push((name.to_string(), p));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        unique(named.iter().map(|(n, _)| n), "provider")?;
        let mut copy = RegistryCopy {
            providers: named.into_iter().map(|(_, p)| p).collect(),
            revocations,
            users,
            groups,
            memberships,
        };
        copy.revocations.sort_by(|a, b| (&a.provider, &a.kind, &a.subject).cmp(&(&b.provider, &b.kind, &b.subject)));
        unique(copy.revocations.iter().map(|r| (&r.provider, &r.kind, &r.subject)), "revocation")?;
        copy.users.sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
        unique(copy.users.iter().map(|u| (&u.provider, &u.id)), "directory user")?;
        copy.groups.sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
        unique(copy.groups.iter().map(|g| (&g.provider, &g.id)), "directory group")?;
        copy.memberships
            .sort_by(|a, b| (&a.provider, &a.group_id, &a.user_id).cmp(&(&b.provider, &b.group_id, &b.user_id)));
        unique(copy.memberships.iter().map(|m| (&m.provider, &m.group_id, &m.user_id)), "directory membership")?;
        Ok(copy)
    }

    /// The providers' configs, by name.
    pub fn providers(&self) -> &[Value] {
        &self.providers
    }

    /// The providers' names, in order.
    pub fn provider_names(&self) -> Vec<String> {
        self.providers.iter().filter_map(|p| p.get("provider")?.as_str().map(str::to_string)).collect()
    }

    /// The revocations.
    pub fn revocations(&self) -> &[Revocation] {
        &self.revocations
    }

    /// The directory users.
    pub fn directory_users(&self) -> &[DirectoryUser] {
        &self.users
    }

    /// The directory groups.
    pub fn directory_groups(&self) -> &[DirectoryGroup] {
        &self.groups
    }

    /// The directory memberships.
    pub fn directory_memberships(&self) -> &[DirectoryMembership] {
        &self.memberships
    }

    /// The serialized form ([`RegistryCopy::from_bytes`] reads it back).
    pub fn to_bytes(&self) -> Vec<u8> {
        let revocations: Vec<Value> = self
            .revocations
            .iter()
            .map(|r| {
                json!({"provider": r.provider, "kind": r.kind, "subject": r.subject,
                       "issued_before": r.issued_before, "created_at": r.created_at})
            })
            .collect();
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                json!({"provider": u.provider, "id": u.id, "idp_id": u.idp_id, "email": u.email,
                       "email_key": u.email_key, "first_name": u.first_name, "last_name": u.last_name,
                       "state": u.state, "event_at": u.event_at})
            })
            .collect();
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| json!({"provider": g.provider, "id": g.id, "name": g.name, "deleted": g.deleted, "event_at": g.event_at}))
            .collect();
        let memberships: Vec<Value> = self
            .memberships
            .iter()
            .map(|m| {
                json!({"provider": m.provider, "group_id": m.group_id, "user_id": m.user_id,
                       "member": m.member, "event_at": m.event_at})
            })
            .collect();
        // Members written in a fixed order (serde_json's map may keep insertion order).
        let mut out = Map::new();
        out.insert("format".into(), FORMAT.into());
        out.insert("providers".into(), Value::Array(self.providers.clone()));
        out.insert("revocations".into(), Value::Array(revocations));
        out.insert("directory_users".into(), Value::Array(users));
        out.insert("directory_groups".into(), Value::Array(groups));
        out.insert("directory_memberships".into(), Value::Array(memberships));
        serde_json::to_vec(&Value::Object(out)).expect("a JSON value serializes")
    }

    /// Read what [`RegistryCopy::to_bytes`] wrote; anything else is refused whole.
    pub fn from_bytes(bytes: &[u8]) -> Result<RegistryCopy, String> {
        const NOT: &str = "not a registry copy";
        let v: Value = serde_json::from_slice(bytes).map_err(|_| NOT)?;
        let o = v.as_object().ok_or(NOT)?;
        let expected =
            ["format", "providers", "revocations", "directory_users", "directory_groups", "directory_memberships"];
        if o.len() != expected.len() || !expected.iter().all(|m| o.contains_key(*m)) || o["format"] != FORMAT {
            return Err(format!("{NOT} (expected {FORMAT:?})"));
        }
        let list = |name: &str| o[name].as_array().ok_or(format!("{NOT}: {name} is not an array"));
        let mut providers = Vec::new();
        for p in list("providers")? {
            if !p.is_object() {
                return Err(format!("{NOT}: a provider config is not an object"));
            }
            providers.push(p.clone());
        }
        let mut revocations = Vec::new();
        for r in list("revocations")? {
            let f = Fields::of(r, "revocation", &["provider", "kind", "subject", "issued_before", "created_at"])?;
            revocations.push(Revocation {
                provider: f.text("provider")?,
                kind: f.text("kind")?,
                subject: f.text("subject")?,
                issued_before: f.opt_time("issued_before")?,
                created_at: f.time("created_at")?,
            });
        }
        let mut users = Vec::new();
        for u in list("directory_users")? {
            let members =
                ["provider", "id", "idp_id", "email", "email_key", "first_name", "last_name", "state", "event_at"];
            let f = Fields::of(u, "directory user", &members)?;
            users.push(DirectoryUser {
                provider: f.text("provider")?,
                id: f.text("id")?,
                idp_id: f.opt_text("idp_id")?,
                email: f.opt_text("email")?,
                email_key: f.opt_text("email_key")?,
                first_name: f.opt_text("first_name")?,
                last_name: f.opt_text("last_name")?,
                state: f.text("state")?,
                event_at: f.time("event_at")?,
            });
        }
        let mut groups = Vec::new();
        for g in list("directory_groups")? {
            let f = Fields::of(g, "directory group", &["provider", "id", "name", "deleted", "event_at"])?;
            groups.push(DirectoryGroup {
                provider: f.text("provider")?,
                id: f.text("id")?,
                name: f.opt_text("name")?,
                deleted: f.flag("deleted")?,
                event_at: f.time("event_at")?,
            });
        }
        let mut memberships = Vec::new();
        for m in list("directory_memberships")? {
            let f = Fields::of(m, "directory membership", &["provider", "group_id", "user_id", "member", "event_at"])?;
            memberships.push(DirectoryMembership {
                provider: f.text("provider")?,
                group_id: f.text("group_id")?,
                user_id: f.text("user_id")?,
                member: f.flag("member")?,
                event_at: f.time("event_at")?,
            });
        }
        RegistryCopy::new(providers, revocations, users, groups, memberships)
    }

    /// SHA-256 (hex) of the serialized form: equal on two nodes exactly when they hold the same
    /// providers (configs, keys and secrets), revocations and directory.
    pub fn fingerprint(&self) -> String {
        digest::digest(&digest::SHA256, &self.to_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn unique<K: PartialEq>(keys: impl Iterator<Item = K>, what: &str) -> Result<(), String> {
    let mut last: Option<K> = None;
    for k in keys {
        if last.as_ref() == Some(&k) {
            return Err(format!("not a registry copy: a {what} appears twice"));
        }
        last = Some(k);
    }
    Ok(())
}

/// The members of one entry, all of them present and nothing else.
struct Fields<'a> {
    o: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn of(v: &'a Value, what: &'static str, members: &[&str]) -> Result<Fields<'a>, String> {
        match v.as_object() {
            Some(o) if o.len() == members.len() && members.iter().all(|m| o.contains_key(*m)) => Ok(Fields { o, what }),
            _ => Err(format!("not a registry copy: a {what} is not {{{}}}", members.join(", "))),
        }
    }

    fn bad(&self, member: &str) -> String {
        format!("not a registry copy: a {} has a bad {member}", self.what)
    }

    fn text(&self, m: &str) -> Result<String, String> {
        self.o[m].as_str().map(str::to_string).ok_or_else(|| self.bad(m))
    }

    fn opt_text(&self, m: &str) -> Result<Option<String>, String> {
        if self.o[m].is_null() {
            Ok(None)
        } else {
            self.text(m).map(Some)
        }
    }

    fn time(&self, m: &str) -> Result<i64, String> {
        self.o[m].as_i64().ok_or_else(|| self.bad(m))
    }

    fn opt_time(&self, m: &str) -> Result<Option<i64>, String> {
        if self.o[m].is_null() {
            Ok(None)
        } else {
            self.time(m).map(Some)
        }
    }

    fn flag(&self, m: &str) -> Result<bool, String> {
        self.o[m].as_bool().ok_or_else(|| self.bad(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RegistryCopy {
        RegistryCopy::new(
            vec![
                json!({"provider": "workos", "issuer": "https://api.workos.com", "webhook_secret": "whsec_x"}),
                json!({"provider": "clerk", "issuer": "https://acme.clerk.accounts.dev", "secret": "s3cr3t"}),
            ],
            vec![
                Revocation {
                    provider: "clerk".into(),
                    kind: "user".into(),
                    subject: "user_2bob".into(),
                    issued_before: Some(i64::MAX),
                    created_at: 830_000_000_000_000,
                },
                Revocation {
                    provider: "clerk".into(),
                    kind: "session".into(),
                    subject: "sess_1".into(),
                    issued_before: None,
                    created_at: 830_000_000_000_001,
                },
            ],
            vec![DirectoryUser {
                provider: "workos".into(),
                id: "directory_user_01JANE".into(),
                idp_id: None,
                email: Some("Jane@Acme.com".into()),
                email_key: Some("jane@acme.com".into()),
                first_name: Some("Jane".into()),
                last_name: None,
                state: "inactive".into(),
                event_at: -1,
            }],
            vec![DirectoryGroup { provider: "workos".into(), id: "g".into(), name: None, deleted: false, event_at: 0 }],
            vec![DirectoryMembership {
                provider: "workos".into(),
                group_id: "g".into(),
                user_id: "directory_user_01JANE".into(),
                member: true,
                event_at: i64::MIN,
            }],
        )
        .unwrap()
    }

    #[test]
    fn round_trip_sorted_and_exact() {
        let copy = sample();
        assert_eq!(copy.provider_names(), vec!["clerk", "workos"]);
        assert_eq!(copy.revocations()[0].kind, "session");
        let back = RegistryCopy::from_bytes(&copy.to_bytes()).unwrap();
        assert_eq!(back, copy);
        assert_eq!(back.fingerprint(), copy.fingerprint());
        assert_eq!(copy.fingerprint().len(), 64);
        assert_eq!(
            RegistryCopy::default().fingerprint(),
            RegistryCopy::from_bytes(&RegistryCopy::default().to_bytes()).unwrap().fingerprint()
        );
    }

    /// Any difference a worker's verification would see changes the fingerprint: a secret, a
    /// revocation's time, a directory user's state, a membership.
    #[test]
    fn fingerprint_sees_every_difference() {
        let base = sample();
        let fp = base.fingerprint();
        let rebuilt = |f: &dyn Fn(&mut RegistryCopy)| {
            let mut c = base.clone();
            f(&mut c);
            c.fingerprint()
        };
        assert_ne!(fp, rebuilt(&|c| c.providers[0]["secret"] = "s3cr3u".into()));
        assert_ne!(fp, rebuilt(&|c| c.revocations[1].issued_before = Some(i64::MAX - 1)));
        assert_ne!(fp, rebuilt(&|c| c.users[0].state = "active".into()));
        assert_ne!(fp, rebuilt(&|c| c.memberships[0].member = false));
        assert_ne!(fp, rebuilt(&|c| c.groups[0].deleted = true));
        assert_ne!(fp, rebuilt(&|c| c.users.clear()));
        assert_eq!(fp, rebuilt(&|_| {}));
    }

    #[test]
    fn bad_copies_refused() {
        let good: Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
        let mut cases: Vec<Value> = Vec::new();
        for (path, value) in [
            ("/format", json!("pg_idp registry copy v0")),
            ("/providers", json!("all of them")),
            ("/providers/0", json!(["not", "an", "object"])),
            ("/providers/0/provider", json!(1)),
            ("/revocations/0/created_at", json!("2026-01-01")),
            ("/revocations/0/issued_before", json!(1.5)),
            ("/directory_users/0/state", Value::Null),
            ("/directory_groups/0/deleted", json!("no")),
            ("/directory_memberships/0/member", json!(1)),
        ] {
            let mut v = good.clone();
            *v.pointer_mut(path).unwrap() = value;
            cases.push(v);
        }
        let mut extra = good.clone();
        extra["directory_events"] = json!([]);
        cases.push(extra);
        let mut missing = good.clone();
        missing["directory_users"][0].as_object_mut().unwrap().remove("email");
        cases.push(missing);
        let mut twice = good.clone();
        let again = twice["revocations"][0].clone();
        twice["revocations"].as_array_mut().unwrap().push(again);
        cases.push(twice);
        for v in cases {
            assert!(RegistryCopy::from_bytes(&serde_json::to_vec(&v).unwrap()).is_err(), "{v}");
        }
        for bad in [&b""[..], b"null", b"{}", b"[]", b"\xff"] {
            assert!(RegistryCopy::from_bytes(bad).is_err());
        }
        assert!(RegistryCopy::new(vec![json!({"issuer": "x"})], vec![], vec![], vec![], vec![]).is_err());
        assert!(RegistryCopy::new(
            vec![json!({"provider": "a"}), json!({"provider": "a"})],
            vec![],
            vec![],
            vec![],
            vec![]
        )
        .is_err());
    }
}
