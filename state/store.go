package state

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/podwire/podwire/api"
)

// File names in the state directory.
const (
	FileName     = "state.json"          // the current state
	PrevFileName = "state.json.prev"     // the state before the last Save
	LockFileName = "lock"                // flock'ed by the Store that has the directory open
	tmpPattern   = "state.json.tmp-*"    // Save's temporary files
	prevTmpName  = "state.json.prev.tmp" // Save's hard link on its way to PrevFileName
	corruptInfix = ".corrupt-"           // state.json.corrupt-<time>: a damaged file moved aside
)

// FormatVersion is the version of the file format that Save writes and the
// highest that Load reads.
const FormatVersion = 1

// State is what podwired persists: the networks and the attachments' specs.
type State struct {
	// Version is the file format version: Load reports the file's, Save
	// always writes FormatVersion.
	Version     int              `json:"version"`
	Networks    []api.Network    `json:"networks"`
	Attachments []api.Attachment `json:"attachments"` // spec part only
}

// file is the JSON document on disk. SHA256 is the hex SHA-256 of State's
// compact JSON encoding; a file without it (edited by hand) is accepted.
type file struct {
	SHA256  string          `json:"sha256,omitempty"`
	SavedAt time.Time       `json:"savedAt,omitzero"`
	State   json.RawMessage `json:"state"`
}

// Errors.
var (
	// ErrCorrupt matches a *CorruptError.
	ErrCorrupt = errors.New("state file is damaged")
	// ErrLocked: another Store (another podwired) has the directory open.
	ErrLocked = errors.New("state directory is in use")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("state store is closed")
)

// CorruptError is a state file that cannot be what Save wrote: empty,
// truncated, not JSON, or failing its checksum. Load falls back to the
// previous file when it meets one (see the package comment).
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return "state file " + e.Path + " is damaged: " + e.Reason
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Store persists State in one directory. It is safe for concurrent use:
// Save and Load calls are serialized. Open takes an exclusive lock on the
// directory that lasts until Close (or the process's death).
type Store struct {
	dir  string
	log  *slog.Logger
	mu   sync.Mutex
	lock *os.File // nil once closed
}

// Option configures Open.
type Option func(*Store)

// WithLogger sets the logger for warnings (a fallback to the previous file,
// a missing checksum). The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open opens the state directory dir, creating it (mode 0700) if needed,
// locks it against other Stores, and removes temporary files that an
// interrupted Save left behind. The caller closes the Store.
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{dir: dir, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lockPath := filepath.Join(dir, LockFileName)
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lockPath)
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := ""
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who = " by pid " + pid
			}
			return nil, fmt.Errorf("%w: %s is locked%s (another podwired?)", ErrLocked, dir, who)
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	// The pid is for the error message above only; the flock is the lock.
	if err := lf.Truncate(0); err == nil {
		lf.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock = lf

	leftovers, _ := filepath.Glob(filepath.Join(dir, tmpPattern))
	leftovers = append(leftovers, filepath.Join(dir, prevTmpName))
	for _, p := range leftovers {
		if err := os.Remove(p); err == nil {
			s.log.Info("state: removed a temporary file left by an interrupted save", "path", p)
		}
	}
	return s, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory lock. Load and Save fail after Close.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the last descriptor releases the flock
	s.lock = nil
	return err
}

// Load returns the saved state.
//
//   - No state.json and no state.json.prev: a new node. Load returns an
//     empty State and no error.
//   - state.json is good: its state.
//   - state.json is damaged (*CorruptError) or missing, and state.json.prev
//     is good: Load logs a warning, moves the damaged file aside as
//     state.json.corrupt-<time> (kept for inspection), and returns the
//     previous state. The next Save writes a new state.json.
//   - state.json is damaged and there is no good state.json.prev: the
//     *CorruptError (errors.Is(err, ErrCorrupt)), never an empty State.
//   - Any other problem (unreadable, a newer format version, an entry that
//     fails validation, duplicates): an error naming the file and the
//     entry, with no fallback, because the file is intact and guessing
//     would hide a real mistake.
func (s *Store) Load() (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return State{}, ErrClosed
	}
	cur := filepath.Join(s.dir, FileName)
	prev := filepath.Join(s.dir, PrevFileName)

	st, err := readFile(cur)
	if err == nil {
		return st, nil
	}
	missing := errors.Is(err, fs.ErrNotExist)
	if !missing && !errors.Is(err, ErrCorrupt) {
		return State{}, err
	}
	pst, perr := readFile(prev)
	switch {
	case perr == nil:
	case missing && errors.Is(perr, fs.ErrNotExist):
		return State{Version: FormatVersion, Networks: []api.Network{}, Attachments: []api.Attachment{}}, nil
	case missing:
		return State{}, fmt.Errorf("%s is missing and the previous state cannot be used: %w", cur, perr)
	case errors.Is(perr, fs.ErrNotExist):
		return State{}, fmt.Errorf("%w; there is no %s to fall back to", err, PrevFileName)
	default:
		return State{}, fmt.Errorf("%w; the previous state cannot be used either: %v", err, perr)
	}
	if missing {
		s.log.Warn("state: current state file is missing; using the previous one, which lacks at most the last change",
			"path", cur, "fallback", prev)
		return pst, nil
	}
	aside := cur + corruptInfix + time.Now().UTC().Format("20060102T150405.000000000Z")
	if rerr := os.Rename(cur, aside); rerr != nil {
		return State{}, fmt.Errorf("%w; moving it aside to fall back to %s: %v", err, PrevFileName, rerr)
	}
	syncDir(s.dir)
	s.log.Warn("state: current state file is damaged; using the previous one, which lacks at most the last change",
		"path", cur, "error", err, "moved_to", aside, "fallback", prev)
	return pst, nil
}

// readFile reads and checks one state file. Errors: fs.ErrNotExist,
// *CorruptError, or another error naming the file.
func readFile(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, err
	}
	return decodeFile(path, b)
}

// decodeFile checks and decodes the contents b of the state file path.
func decodeFile(path string, b []byte) (State, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return State{}, &CorruptError{Path: path, Reason: fmt.Sprintf("empty (%d bytes)", len(b))}
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn) && syn.Offset >= int64(len(b)):
			return State{}, &CorruptError{Path: path, Reason: fmt.Sprintf("truncated: JSON ends early at byte %d", len(b))}
		case errors.As(err, &syn):
			return State{}, &CorruptError{Path: path, Reason: fmt.Sprintf("not valid JSON at byte %d of %d: %v", syn.Offset, len(b), err)}
		}
		return State{}, &CorruptError{Path: path, Reason: err.Error()}
	}
	if len(f.State) == 0 || string(f.State) == "null" {
		return State{}, &CorruptError{Path: path, Reason: `no "state" object`}
	}
	if f.SHA256 != "" {
		var compact bytes.Buffer
		if err := json.Compact(&compact, f.State); err != nil {
			return State{}, &CorruptError{Path: path, Reason: err.Error()}
		}
		sum := sha256.Sum256(compact.Bytes())
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return State{}, &CorruptError{Path: path, Reason: "checksum mismatch (the file was changed or damaged after it was written; to edit it by hand, remove the sha256 field)"}
		}
	}

	var head struct{ Version int }
	if err := json.Unmarshal(f.State, &head); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case head.Version > FormatVersion:
		return State{}, fmt.Errorf("%s has format version %d; this podwired reads up to %d (was it written by a newer podwired?)", path, head.Version, FormatVersion)
	case head.Version < 1:
		return State{}, fmt.Errorf("%s: state has format version %d, want 1..%d", path, head.Version, FormatVersion)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(f.State))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	if st.Networks == nil {
		st.Networks = []api.Network{}
	}
	if st.Attachments == nil {
		st.Attachments = []api.Attachment{}
	}
	if err := check(st); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// check validates every entry and refuses duplicate keys.
func check(st State) error {
	nets := make(map[string]bool, len(st.Networks))
	for i, n := range st.Networks {
		if err := n.Validate(); err != nil {
			return fmt.Errorf("networks[%d] %q: %w", i, n.Name, err)
		}
		if nets[n.Name] {
			return fmt.Errorf("networks[%d]: network %q appears twice", i, n.Name)
		}
		nets[n.Name] = true
	}
	atts := make(map[string]bool, len(st.Attachments))
	for i, a := range st.Attachments {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("attachments[%d] %s: %w", i, a.Key(), err)
		}
		if atts[a.Key()] {
			return fmt.Errorf("attachments[%d]: attachment %s appears twice", i, a.Key())
		}
		atts[a.Key()] = true
	}
	return nil
}

// normalize returns the form Save writes: format version set, attachment
// status cleared, both lists copied and sorted by key, never nil.
func normalize(st State) State {
	out := State{
		Version:     FormatVersion,
		Networks:    append([]api.Network{}, st.Networks...),
		Attachments: make([]api.Attachment, len(st.Attachments)),
	}
	for i, a := range st.Attachments {
		out.Attachments[i] = a.Spec()
	}
	slices.SortFunc(out.Networks, func(a, b api.Network) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Attachments, func(a, b api.Attachment) int {
		return cmp.Or(cmp.Compare(a.ContainerID, b.ContainerID), cmp.Compare(a.IfName, b.IfName))
	})
	return out
}

// Save replaces the saved state with st: its networks and the spec part of
// its attachments (status fields are dropped), sorted by key. It validates
// st first and writes nothing if an entry is invalid or a key repeats.
//
// Steps, each one leaving a loadable directory behind if the process dies
// there: write state.json.tmp-* and fsync it; hard-link (or copy) the
// current state.json, if it is good, to state.json.prev (through a
// temporary name and a rename, so state.json.prev is always whole); rename the temporary
// file over state.json; fsync the directory. When Save returns nil the new
// state is durable.
func (s *Store) Save(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return ErrClosed
	}
	st = normalize(st)
	if err := check(st); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	sum := sha256.Sum256(payload)
	doc, err := json.MarshalIndent(file{SHA256: hex.EncodeToString(sum[:]), SavedAt: time.Now().UTC(), State: payload}, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	doc = append(doc, '\n')

	cur := filepath.Join(s.dir, FileName)
	tmp, err := writeTemp(s.dir, doc)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp) // after a successful rename this finds nothing

	if err := s.rotate(cur); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("save state: %s written but not yet durable: %w", cur, err)
	}
	return nil
}

// writeTemp writes b to a new temporary file in dir, fsyncs and closes it,
// and returns its path. The file is mode 0600.
func writeTemp(dir string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, tmpPattern)
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// rotate makes state.json.prev a copy of the current state.json, if that
// file exists and is good: a hard link, or where the filesystem has none, a
// copy written like Save writes. A damaged or missing current file leaves
// state.json.prev as it is: it is then the last good state.
func (s *Store) rotate(cur string) error {
	b, err := os.ReadFile(cur)
	if err == nil {
		_, err = decodeFile(cur, b)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("state: not keeping the current state file as the previous one", "path", cur, "error", err)
		}
		return nil
	}
	prev := filepath.Join(s.dir, PrevFileName)
	ptmp := filepath.Join(s.dir, prevTmpName)
	if err := os.Remove(ptmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if lerr := os.Link(cur, ptmp); lerr != nil {
		tmp, err := writeTemp(s.dir, b)
		if err != nil {
			return fmt.Errorf("keep previous state: %w", err)
		}
		ptmp = tmp
	}
	if err := os.Rename(ptmp, prev); err != nil {
		os.Remove(ptmp)
		return fmt.Errorf("keep previous state: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
