// Package state persists podwired's networks and attachments in its state
// directory, crash-safely, so that a restarted podwired recreates every port
// at the same socket path and pods reconnect with no CNI call. It uses only
// the standard library and package api, and builds with CGO_ENABLED=0.
//
// # Files
//
//	state.json                   the current state (FileName)
//	state.json.prev              the state before the last Save (PrevFileName)
//	state.json.tmp-*             a Save in progress; removed by Open
//	state.json.corrupt-<time>    a damaged state.json that Load moved aside
//	lock                         flock'ed by the open Store; holds its pid
//
// state.json is indented JSON, {"sha256": ..., "savedAt": ..., "state":
// {"version": 1, "networks": [...], "attachments": [...]}}. sha256 is the
// SHA-256 of the compact JSON of "state"; to edit the file by hand, stop
// podwired, edit, and delete the sha256 line (a file without one is
// accepted). Attachments are stored as specs: status fields are dropped.
//
// # Why a kill at any moment leaves a loadable directory
//
// Save writes the whole new file under a temporary name, fsyncs it, links
// the current good state.json to state.json.prev (via a temporary name and
// a rename; a copy where the filesystem has no hard links), renames the temporary file over state.json, and fsyncs the
// directory. rename(2) replaces state.json atomically: every reader sees
// the old file or the new one, whole, and state.json exists at every
// instant once it has been written for the first time. A SIGKILL can stop
// Save between any two steps:
//
//   - before the rename: state.json is the old state; a temporary file may
//     be left over, and the next Open removes it;
//   - after the rename: state.json is the new state.
//
// The page cache survives the death of a process, so SIGKILL needs no
// fsync. The fsyncs are for power loss and kernel crashes: the file's data
// reaches the disk before the rename that publishes it (without that,
// ext4 and xfs can show a renamed file of the right size full of zeros),
// and the directory fsync makes the rename itself durable before Save
// returns. A Save that returned nil is durable; one that did not return
// may or may not have happened, so a caller recording a change persists it
// before it acknowledges the change (podwired: before answering the PUT).
//
// # When the file is damaged anyway
//
// Disks, filesystems and people can still damage state.json (a checksum
// mismatch, truncation, bytes that are not JSON). Load then falls back to
// state.json.prev, with a logged warning, and moves the damaged file aside
// (state.json.corrupt-<time>) for inspection. We chose this over refusing
// to start: the previous file lacks at most the last change (one attachment
// added or removed), which the CNI plugin's retry and podwired's reconciler
// repair, while a podwired that refuses to start takes down every pod on
// the node. When there is no good previous file, Load returns the
// *CorruptError (errors.Is(err, ErrCorrupt)) and never an empty state.
// Problems with an intact file (a newer format version, an invalid entry, a
// duplicate key) are errors with no fallback: they come from a person or
// another binary, and guessing would hide them. An empty directory is a new
// node: Load returns an empty State. To reset a node's state, remove both
// state.json and state.json.prev.
//
// # Ownership and threads
//
// A Store owns its directory while it is open: Open takes an exclusive
// flock (a second Store, in this process or another, gets ErrLocked), and
// Close releases it; the kernel releases it too when the process dies, so
// a killed podwired does not block its successor. Save and Load are safe
// to call from any goroutine; they are serialized. Load returns slices the
// caller owns; Save copies what it is given.
package state
