package api

import (
	"errors"
	"net/http"
	"strconv"
)

// ErrorBody is the JSON body of every 4xx and 5xx response:
// {"error": "...", "field": "..."}; field is present when one input field
// is to blame.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// Error is an error answer from podwired: the HTTP status and the body's
// message and field. Client methods return it (as error) for every 4xx and
// 5xx; errors.Is(err, ErrNotFound) and errors.Is(err, ErrConflict) test the
// common statuses.
type Error struct {
	Status  int    // HTTP status code
	Message string // the body's "error"
	Field   string // the body's "field": the JSON name of the bad input field, if any
}

func (e *Error) Error() string {
	return "podwired: " + e.Message + " (" + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ")"
}

// Is reports whether target is the sentinel for e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	}
	return false
}

// Sentinels for errors.Is on client errors.
var (
	// ErrUnreachable: no connection to podwired's socket (missing, refused,
	// permission denied, dial timeout). The request was not delivered, so
	// nothing changed. The error's message names the socket path.
	ErrUnreachable = errors.New("podwired not reachable")
	// ErrNotFound: 404, the network or attachment does not exist. A DELETE
	// of something absent returns it; callers that want idempotent deletes
	// (the CNI plugin's DEL) treat it as success.
	ErrNotFound = errors.New("not found")
	// ErrConflict: 409, e.g. a PUT that changes an existing attachment's
	// spec, or deleting a network that attachments still use.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: 400 or 422, invalid input; a *FieldError returned by the
	// client's own validation (before sending) also matches.
	ErrInvalid = errors.New("invalid input")
)

// Is makes errors.Is(fieldErr, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// unreachableError is the error of a failed dial.
type unreachableError struct {
	socket string
	err    error
}

func (e *unreachableError) Error() string {
	return "podwired not reachable at " + e.socket + ": " + e.err.Error()
}
func (e *unreachableError) Unwrap() error        { return e.err }
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
