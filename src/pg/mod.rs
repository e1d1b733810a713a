//! PostgreSQL itself, as pg_idp uses it: its settings (every `idp.*` GUC), its errors and
//! SQLSTATEs, answers built as datums (text, jsonb), SPI helpers (plans kept per backend,
//! queries run as another role with `search_path` pinned), and the threads pg_idp starts (every
//! signal blocked). The bottom layer: it imports nothing else of the extension.

pub(crate) mod datum;
pub(crate) mod errors;
pub(crate) mod jsonb;
pub(crate) mod settings;
pub(crate) mod spi;
pub(crate) mod threads;
