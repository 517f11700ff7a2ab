//! Everything that differs between the systems a game ships to: file
//! permissions, positional writes, directory syncs, renames, the errors
//! that mean a resource ran short, and thread priority. Each concern is one module with its Linux/Android, Apple and
//! Windows sides chosen by `cfg`; the rest of the crate calls these and has
//! no `std::os::unix`, `std::os::windows` or `libc` of its own.
//!
//! What differs, in short (README "Platforms" has the table):
//! - Locking: std's `File::try_lock` everywhere (`flock` on Unix,
//!   `LockFileEx` on Windows), so nothing of it lives here.
//! - Permissions: mode 0700/0600 on Unix; on Windows files inherit the
//!   ACL of the folder they are in (the user's profile), so nothing is set.
//! - The intake's mapped window (`queue::intake::window`, with every
//!   invariant its unsafe code relies on): Linux and Android only; elsewhere
//!   appends are positional writes.
//! - Thread priority: lowered on Linux/Android (nice) and Apple (QoS);
//!   Windows threads do not inherit a priority, so it is left alone there.
//!
//! Nothing here decides policy: no queue, store or tracker logic.

pub(crate) mod fs;
pub(crate) mod priority;
