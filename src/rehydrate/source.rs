//! Where a session's reducers come from, kept so that they can be loaded again (the TUI's `r`
//! reloads the file while one steps through a stream).

use std::path::PathBuf;

use super::reducer::{ReducerError, Reducers};

#[derive(Debug, Clone)]
pub enum ReducerSource {
    /// A reducer file (TOML), read again on each load.
    File(PathBuf),
    /// The demo store's built-in reducers.
    Demo,
    /// No reducers: every stream folds with the default merge.
    None,
    /// `--reducer NAME`: that reducer of the source's file for every stream.
    Forced(Box<ReducerSource>, String),
}

impl ReducerSource {
    pub fn load(&self) -> Result<Reducers, ReducerError> {
        match self {
            ReducerSource::File(p) => Reducers::load(p),
            ReducerSource::Demo => Ok(Reducers::demo()),
            ReducerSource::None => Ok(Reducers::default()),
            ReducerSource::Forced(inner, name) => inner.load()?.force(name),
        }
    }
}
