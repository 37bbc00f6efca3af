//! What the app draws over the views: the text inputs, the help, the command palette, the
//! replay dialog and its
//! progress panel, and the export that writes what a view shows to a file.

pub mod export;
pub mod help;
pub mod input;
pub mod palette;
pub mod replay;
pub mod seal;
pub mod verify_seal;
