package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Routes, as net/http.ServeMux patterns, and the names of their wildcards
// (for Request.PathValue). The client builds its paths to match these.
const (
	RouteStatus           = "GET /v1/status"
	RouteNetworks         = "GET /v1/networks"
	RouteNetworkGet       = "GET /v1/networks/{name}"
	RouteNetworkPut       = "PUT /v1/networks/{name}"
	RouteNetworkDelete    = "DELETE /v1/networks/{name}"
	RouteNetworkMACs      = "GET /v1/networks/{name}/macs"
	RouteAttachments      = "GET /v1/attachments"
	RouteAttachmentGet    = "GET /v1/attachments/{containerID}/{ifname}"
	RouteAttachmentPut    = "PUT /v1/attachments/{containerID}/{ifname}"
	RouteAttachmentDelete = "DELETE /v1/attachments/{containerID}/{ifname}"
	RoutePorts            = "GET /v1/ports"
	RouteCounters         = "GET /v1/counters"
	RouteWorkers          = "GET /v1/workers"

	PathName        = "name"
	PathContainerID = "containerID"
	PathIfName      = "ifname"
)

// MaxBodyBytes is the largest request body podwired accepts. DecodeStrict
// enforces it; the server should also wrap bodies in http.MaxBytesReader.
const MaxBodyBytes = 1 << 20

// DecodeStrict decodes exactly one JSON value from r into v: unknown fields,
// trailing data, an empty body and more than MaxBodyBytes are errors. Every
// error it returns is an *Error ready for WriteError: 413 for a body too
// large, 400 otherwise, with Field set when one field is to blame (an
// unknown field, or a value of the wrong type).
func DecodeStrict(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return &Error{Status: http.StatusBadRequest, Message: "read request body: " + err.Error()}
	}
	if len(b) > MaxBodyBytes {
		return tooLarge()
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return &Error{Status: http.StatusBadRequest, Message: "request body is empty: want a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: http.StatusBadRequest, Message: "request body has data after the JSON value"}
	}
	return nil
}

func tooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body is larger than " + strconv.Itoa(MaxBodyBytes) + " bytes"}
}

func decodeError(err error) *Error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Message: "request body is truncated JSON"}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("request body is JSON %s, want an object", typ.Value)}
		}
		return &Error{Status: http.StatusBadRequest, Field: typ.Field, Message: fmt.Sprintf("%s: JSON %s is not a valid %s", typ.Field, typ.Value, typ.Type)}
	}
	// encoding/json has no type for this one: `json: unknown field "x"`.
	if rest, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, uerr := strconv.Unquote(rest)
		if uerr != nil {
			field = rest
		}
		return &Error{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf("%s: unknown field", field)}
	}
	return &Error{Status: http.StatusBadRequest, Message: "request body: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// WriteJSON writes v as the JSON body of a response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteError writes err as an ErrorBody with a status chosen from its type:
// an *Error's own status; 400 with the field for a *FieldError; 404, 409 or
// 400 for an error wrapping ErrNotFound, ErrConflict or ErrInvalid; 500
// otherwise.
func WriteError(w http.ResponseWriter, err error) error {
	return WriteJSON(w, ErrorStatus(err), ErrorBody{Error: errorMessage(err), Field: errorField(err)})
}

// ErrorStatus is the HTTP status WriteError uses for err.
func ErrorStatus(err error) int {
	var (
		ae *Error
		fe *FieldError
	)
	switch {
	case errors.As(err, &ae):
		return ae.Status
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func errorMessage(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

func errorField(err error) string {
	var (
		ae *Error
		fe *FieldError
	)
	switch {
	case errors.As(err, &ae):
		return ae.Field
	case errors.As(err, &fe):
		return fe.Field
	}
	return ""
}
