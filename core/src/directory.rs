//! Directory sync (WorkOS SCIM events): how a token is matched to a directory user, and what the
//! directory says about a verified identity (deprovisioned or not, and its groups).

use crate::error::{ErrorCode, VerifyError};

/// Which directory-user field a token is matched against (`directory_match` in the provider
/// config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryField {
    /// The directory user's `id` (WorkOS `directory_user_…`): the default.
    Id,
    /// The directory user's `idp_id` (the id the customer's identity provider gave the user).
    IdpId,
    /// The directory user's email, folded with [`email_key`]; only for tokens whose
    /// `email_verified` claim is `true`.
    Email,
}

impl DirectoryField {
    /// As written in the config.
    pub fn parse(s: &str) -> Option<DirectoryField> {
        match s {
            "id" => Some(DirectoryField::Id),
            "idp_id" => Some(DirectoryField::IdpId),
            "email" => Some(DirectoryField::Email),
            _ => None,
        }
    }

    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryField::Id => "id",
            DirectoryField::IdpId => "idp_id",
            DirectoryField::Email => "email",
        }
    }
}

/// What a verified identity is known by in its provider's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryKey {
    /// Which directory-user field is compared.
    pub field: DirectoryField,
    /// The id as the token gives it, or the folded email.
    pub value: String,
}

/// The one case folding of emails, used both for the directory's stored emails (through the SQL
/// function `idp._email_key`) and for a token's email: Unicode lowercasing (locale-independent,
/// so `İ` and a final `Σ` fold the same way in every database) of the trimmed address.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What the directory says about one identity: every directory user that matched its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryRecord {
    /// Whether any matching directory user is active.
    pub active: bool,
    /// How many directory users matched (0: the directory does not know the identity).
    pub matches: usize,
    /// The groups of the active matching users, sorted, without duplicates.
    pub groups: Vec<String>,
}

impl DirectoryRecord {
    /// `deprovisioned` when the directory knows the identity and none of its users is active.
    pub fn check(&self, user_id: &str, provider: &str) -> Result<(), VerifyError> {
        if self.matches > 0 && !self.active {
            return Err(VerifyError::new(
                ErrorCode::Deprovisioned,
                format!(
                    "user {} was deprovisioned by the directory of provider \"{}\"",
                    crate::error::quote(user_id),
                    provider
                ),
            ));
        }
        Ok(())
    }
}

/// One user of an in-memory [`Directory`].
#[derive(Clone, Debug)]
struct DirectoryUser {
    id: String,
    idp_id: Option<String>,
    email_key: Option<String>,
    active: bool,
}

/// An in-memory directory (for tests and the CLI; the extension looks users up in its tables
/// instead, one identity at a time).
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// provider -> its users
    users: std::collections::HashMap<String, Vec<DirectoryUser>>,
    /// provider -> (directory user id, group id)
    memberships: std::collections::HashMap<String, Vec<(String, String)>>,
}

impl Directory {
    /// Record a directory user (active or not).
    pub fn add_user(&mut self, provider: &str, id: &str, idp_id: Option<&str>, email: Option<&str>, active: bool) {
        self.users.entry(provider.to_string()).or_default().push(DirectoryUser {
            id: id.to_string(),
            idp_id: idp_id.map(str::to_string),
            email_key: email.map(email_key),
            active,
        });
    }

    /// Record that a directory user is in a group.
    pub fn add_membership(&mut self, provider: &str, user_id: &str, group_id: &str) {
        self.memberships.entry(provider.to_string()).or_default().push((user_id.to_string(), group_id.to_string()));
    }

    /// What the directory says about the users matching `key` in `provider`'s directory.
    pub fn lookup(&self, provider: &str, key: &DirectoryKey) -> DirectoryRecord {
        let mut rec = DirectoryRecord::default();
        for user in self.users.get(provider).into_iter().flatten() {
            let field = match key.field {
                DirectoryField::Id => Some(&user.id),
                DirectoryField::IdpId => user.idp_id.as_ref(),
                DirectoryField::Email => user.email_key.as_ref(),
            };
            if field != Some(&key.value) {
                continue;
            }
            rec.matches += 1;
            if user.active {
                rec.active = true;
                for (u, g) in self.memberships.get(provider).into_iter().flatten() {
                    if *u == user.id {
                        rec.groups.push(g.clone());
                    }
                }
            }
        }
        rec.groups.sort();
        rec.groups.dedup();
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_fold_one_way_whatever_the_database_locale() {
        assert_eq!(email_key(" Jane@Acme.COM "), "jane@acme.com");
        assert_eq!(email_key("İlker@Acme.com"), email_key("i\u{307}lker@acme.com"));
        assert_eq!(email_key("ΟΔΥΣ@acme.com"), email_key("οδυς@acme.com"));
        assert_ne!(email_key("ilker@acme.com"), email_key("İlker@acme.com"));
    }
}
