package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// The fuzz targets below feed arbitrary request bodies through what
// podwired's PUT handlers do with them (daemon/server.go): DecodeStrict
// over an http.MaxBytesReader of MaxBodyBytes, then Validate. Properties:
//   - nothing panics;
//   - a refused body is an *Error with a 4xx status and a message (413
//     exactly when the body is larger than MaxBodyBytes), a refused value a
//     *FieldError naming a field, with a message;
//   - an accepted value survives Marshal, DecodeStrict and Validate again
//     unchanged.

// decodeBody is the handlers' DecodeStrict call.
func decodeBody(t *testing.T, body []byte, v any) error {
	t.Helper()
	err := DecodeStrict(http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(body)), MaxBodyBytes), v)
	if err == nil {
		if len(body) > MaxBodyBytes {
			t.Fatalf("DecodeStrict accepted a body of %d bytes, more than %d", len(body), MaxBodyBytes)
		}
		return nil
	}
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("DecodeStrict error %T %v is not an *Error", err, err)
	}
	if ae.Message == "" || ae.Status < 400 || ae.Status > 499 {
		t.Fatalf("DecodeStrict error without a message or a 4xx status: %+v", ae)
	}
	if (ae.Status == http.StatusRequestEntityTooLarge) != (len(body) > MaxBodyBytes) {
		t.Fatalf("DecodeStrict status %d for a body of %d bytes (limit %d): %v", ae.Status, len(body), MaxBodyBytes, ae)
	}
	if ErrorStatus(err) != ae.Status || errorMessage(err) != ae.Message {
		t.Fatalf("WriteError would answer %d %q for %+v", ErrorStatus(err), errorMessage(err), ae)
	}
	return err
}

// checkRefused: err, from Validate, is a *FieldError with a field and a
// message that WriteError answers with 400.
func checkRefused(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Validate error %T %v is not a *FieldError", err, err)
	}
	if fe.Field == "" || fe.Message == "" {
		t.Fatalf("Validate error without a field or a message: %+v", fe)
	}
	if ErrorStatus(err) != http.StatusBadRequest || errorField(err) != fe.Field || !errors.Is(err, ErrInvalid) {
		t.Fatalf("WriteError would answer %d field %q for %+v", ErrorStatus(err), errorField(err), fe)
	}
}

// putNetwork is handleNetworkPut's decoding and validation of a PUT to
// /v1/networks/blue.
func putNetwork(t *testing.T, body []byte) (Network, error) {
	var n Network
	if err := decodeBody(t, body, &n); err != nil {
		return n, err
	}
	if n.Name == "" {
		n.Name = "blue"
	}
	if err := n.Validate(); err != nil {
		checkRefused(t, err)
		return n, err
	}
	return n, nil
}

func FuzzNetworkRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"blue","vlan":10}`,
		`{"name":"blue","vlan":4094,"maxMACs":1048576,"macAgeingSeconds":1000000}`,
		`{}`,
		"\n {\"name\":\"blue\"} \n\t",
		"", "  \n", `{"name":"blue","vlna":10}`, `{"name":"blue","vlan":"10"}`, `{"name":"blue","vlan":70000}`,
		`[1,2]`, `{"name":"blue",}`, `{"name":"bl`, `{"name":"a"}{"name":"b"}`, `{"name":"a"} x`, `null`,
		`{"name":"blue","vlan":4095}`, `{"name":"..","maxMACs":-1}`, `{"name":"blue","macAgeingSeconds":1e3}`,
		`{"name":"blue","Name":"red"}`, `{"name":"\u00e9"}`,
	} {
		f.Add([]byte(s))
	}
	// One byte over the limit: 413, whatever the JSON.
	f.Add([]byte(`{"name":"` + strings.Repeat("a", MaxBodyBytes-10) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := putNetwork(t, body)
		if err != nil {
			return
		}
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("accepted network does not marshal: %v", err)
		}
		n2, err := putNetwork(t, b)
		if err != nil {
			t.Fatalf("accepted network %+v refused after a round trip through %s: %v", n, b, err)
		}
		if n2 != n {
			t.Fatalf("round trip through %s changed %+v to %+v", b, n, n2)
		}
	})
}

// putAttachment is handleAttachmentPut's decoding, defaulting and
// validation of a PUT to /v1/attachments/c1/net1.
func putAttachment(t *testing.T, body []byte) (Attachment, error) {
	var a Attachment
	if err := decodeBody(t, body, &a); err != nil {
		return a, err
	}
	a = a.Spec()
	if a.ContainerID == "" && a.IfName == "" {
		a.ContainerID, a.IfName = "c1", "net1"
	}
	a = a.WithDefaults()
	if err := a.Validate(); err != nil {
		checkRefused(t, err)
		return a, err
	}
	return a, nil
}

func FuzzAttachmentRequest(f *testing.F) {
	for _, s := range []string{
		`{"network":"default","kind":"memif"}`,
		`{"containerID":"c1","ifName":"net1","network":"blue","kind":"vhostuser","vhostMode":"server","mac":"02-AA-bb-00-00-01",` +
			`"socketDir":"/run/podwire/pods/x","ownerUID":1000,"ownerGID":0,"socketMode":"660","queues":16,"owner":"cni-net_1.a"}`,
		`{"network":"default","kind":"kernel","netns":"/var/run/netns/cni-1234","mtu":1280,"mac":"02:00:00:00:00:01"}`,
		`{"network":"default","kind":"memif","pod":"3f1e9a8c-1b2d-4c5e-8f70-123456789abc","podMount":"/var/run/podwire"}`,
		`{"network":"default","kind":"memif","portName":"../x","state":"bogus","portID":3,"createdAt":"2026-01-02T03:04:05Z"}`,
		// daemon/fields_test.go's refusals.
		`{"network":"default","kind":"memif","owner":"a b"}`,
		`{"network":"default","kind":"memif","mtu":1400}`,
		`{"network":"default","kind":"kernel","netns":"/var/run/netns/x","mtu":9000}`,
		`{"network":"default","kind":"kernel","netns":"/var/run/netns/x","mtu":20}`,
		`{"network":"default","kind":"kernel","netns":"/var/run/netns/x","pod":"u1"}`,
		`{"network":"default","kind":"memif","pod":"a/b"}`,
		`{"network":"default","kind":"memif","podMount":"/var/run/podwire"}`,
		`{"network":"default","kind":"memif","pod":"u1","podMount":"run/podwire"}`,
		`{"network":"default","kind":"memif","pod":"u1","podMount":"/` + strings.Repeat("m", 80) + `"}`,
		`{"network":"default","kind":"memif","pod":"u1","podMount":"/a,b"}`,
		`{"network":"default","kind":"memif","mac":"01:00:5e:00:00:01"}`,
		`{"network":"default","kind":"memif","mac":"02:00:00:00:00:00:00:01"}`,
		`{"network":"default","kind":"memif","ownerUID":-1}`,
		`{"network":"default","kind":"memif","ownerGID":4294967296}`,
		`{"network":"default","kind":"memif","socketMode":"4755"}`,
		`{"network":"default","kind":"memif","queues":17}`,
		`{"containerID":"c1","network":"default","kind":"memif"}`,
		`{"network":"default","kind":"memif","ifName":"eth\u0000"}`,
		`{"network":"default","kind":"memif","createdAt":"not a time"}`,
		`{"network":"default","kind":"memif","bogus":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := putAttachment(t, body)
		if err != nil {
			return
		}
		if strings.Contains(a.ContainerID, "/") || strings.Contains(a.IfName, "/") {
			t.Fatalf("accepted attachment %q has an ambiguous key", a.Key())
		}
		if !reflect.DeepEqual(a.WithDefaults(), a) {
			t.Fatalf("WithDefaults is not idempotent on %+v", a)
		}
		if f := a.SpecDiff(a); f != "" {
			t.Fatalf("SpecDiff of %+v with itself: %q", a, f)
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("accepted attachment does not marshal: %v", err)
		}
		a2, err := putAttachment(t, b)
		if err != nil {
			t.Fatalf("accepted attachment %+v refused after a round trip through %s: %v", a, b, err)
		}
		if !reflect.DeepEqual(a, a2) {
			t.Fatalf("round trip through %s changed\n %+v to\n %+v", b, a, a2)
		}
	})
}
