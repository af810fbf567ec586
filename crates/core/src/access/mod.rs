//! Who may do what: roles, permissions, region scope, the password rule and the lockout policy.
//!
//! Pure logic, no I/O: the store keeps users, sessions and tokens (`camwatch_store::users`),
//! the `camwatch-access` crate hashes passwords and issues sessions and tokens, and the HTTP
//! layer asks a [`Principal`] before every action and every row it returns.
//!
//! | module      | job                                                                    |
//! |-------------|------------------------------------------------------------------------|
//! | `role`      | the four roles and the closed set of actions; which role may do which  |
//! | `scope`     | civil-code prefixes and a contractor's maintainer: what a user sees    |
//! | `principal` | an authenticated user (or token) with its role, scope and limits       |
//! | `password`  | the password rule (upper, lower, digit, symbol, length ≥ 8)            |
//! | `lockout`   | repeated login failures → a temporary lock, over injected time         |
//!
//! Invariants:
//! - **Deny by default.** [`Role::permits`] is one exhaustive `match`; a new [`Action`] does not
//!   compile until every role has been given a yes or a no.
//! - **Scope narrows, never widens.** A token's scope lies within its user's; a user created by a
//!   region-scoped admin lies within the admin's ([`Scope::contains`]).
//! - Role, action and outcome names are text only at the storage and export boundary
//!   (`as_str`/`FromStr`); between modules the enums travel.
//!
//! Must not: read the clock (times are passed in), hash or compare secrets (that is the access
//! crate's), or know about HTTP.

pub mod lockout;
pub mod password;
pub mod principal;
pub mod role;
pub mod scope;

pub use lockout::{AttemptOutcome, LockState, LockoutPolicy};
pub use password::{PasswordProblem, PasswordRule};
pub use principal::{Denied, PasswordState, Principal, TokenAccess};
pub use role::{Action, Role};
pub use scope::{RegionPrefix, Scope};
