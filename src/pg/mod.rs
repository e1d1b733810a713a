//! PostgreSQL itself, as pg_idp uses it: its settings (every `idp.*` GUC, `settings`), its errors
//! and SQLSTATEs (`errors`), answers built as datums (`datum`, `jsonb`), SPI helpers (`spi`: plans
//! kept per backend, queries run as another role with `search_path` pinned), and the threads
//! pg_idp starts, every signal blocked (`threads`). The bottom layer: it imports nothing else of
//! the extension. Every module is used above.

pub(crate) mod datum;
pub(crate) mod errors;
pub(crate) mod jsonb;
pub(crate) mod settings;
pub(crate) mod spi;
pub(crate) mod threads;

/// From `_PG_init`: define the settings.
pub(crate) fn init() {
    settings::init();
}
