package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeStrict(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		body   string
		status int // 0 = success
		field  string
		msg    string // substring of the message
	}{
		{"ok", `{"name":"blue","vlan":10}`, 0, "", ""},
		{"ok with whitespace", "\n {\"name\":\"blue\"} \n\t", 0, "", ""},
		{"empty", "", 400, "", "empty"},
		{"blank", "  \n", 400, "", "empty"},
		{"unknown field", `{"name":"blue","vlna":10}`, 400, "vlna", "unknown field"},
		{"wrong type", `{"name":"blue","vlan":"10"}`, 400, "vlan", "uint16"},
		{"overflow", `{"name":"blue","vlan":70000}`, 400, "vlan", "70000"},
		{"array", `[1,2]`, 400, "", "want an object"},
		{"syntax", `{"name":"blue",}`, 400, "", "not valid JSON"},
		{"truncated", `{"name":"bl`, 400, "", "truncated"},
		{"two values", `{"name":"a"}{"name":"b"}`, 400, "", "after the JSON value"},
		{"trailing garbage", `{"name":"a"} x`, 400, "", "after the JSON value"},
		{"too large", big, 413, "", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n Network
			err := DecodeStrict(strings.NewReader(tt.body), &n)
			if tt.status == 0 {
				if err != nil || n.Name != "blue" {
					t.Fatalf("DecodeStrict = %v, %+v", err, n)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("DecodeStrict = %v (%T), want *Error", err, err)
			}
			if ae.Status != tt.status || ae.Field != tt.field || !strings.Contains(ae.Message, tt.msg) {
				t.Fatalf("DecodeStrict = %+v, want status %d field %q message containing %q", ae, tt.status, tt.field, tt.msg)
			}
		})
	}
}

func TestDecodeStrictMaxBytesReader(t *testing.T) {
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(`{"name":"blue"}`)), 5)
	var n Network
	err := DecodeStrict(body, &n)
	if s := ErrorStatus(err); s != http.StatusRequestEntityTooLarge {
		t.Fatalf("DecodeStrict over MaxBytesReader = %v (status %d), want 413", err, s)
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		body   ErrorBody
	}{
		{&FieldError{Field: FieldIfName, Message: `"a/b" contains '/'`}, 400, ErrorBody{`ifName: "a/b" contains '/'`, "ifName"}},
		{&Error{Status: 409, Message: "exists with another spec", Field: "kind"}, 409, ErrorBody{"exists with another spec", "kind"}},
		{fmt.Errorf("attachment c1/net1: %w", ErrNotFound), 404, ErrorBody{"attachment c1/net1: not found", ""}},
		{fmt.Errorf("network blue is in use: %w", ErrConflict), 409, ErrorBody{"network blue is in use: conflict", ""}},
		{errors.New("boom"), 500, ErrorBody{"boom", ""}},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		if err := WriteError(rec, tt.err); err != nil {
			t.Fatal(err)
		}
		var got ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
		if rec.Code != tt.status || got != tt.body || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("WriteError(%v): %d %+v, want %d %+v", tt.err, rec.Code, got, tt.status, tt.body)
		}
		// And the client reads back what the server wrote.
		ce := responseError(rec.Code, rec.Body.Bytes())
		if ce.Status != tt.status || ce.Message != tt.body.Error || ce.Field != tt.body.Field {
			t.Errorf("responseError = %+v", ce)
		}
	}
}
