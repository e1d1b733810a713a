//! The SQL functions of schema `idp`. Each is a few lines over `request`, `registry` and core.

mod citus;
mod identity;
mod legacy;
mod login;
mod providers;
mod served;
mod stats;

mod verify;
