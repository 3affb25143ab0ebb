package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client timeouts. A context deadline shorter than these wins.
const (
	// DialTimeout bounds connecting to the socket. A unix socket connects
	// at once or not at all, unless podwired's accept backlog is full.
	DialTimeout = 3 * time.Second
	// RequestTimeout bounds a whole request when the context has no
	// earlier deadline.
	RequestTimeout = 60 * time.Second
)

// maxResponseBytes bounds a response body (a full MAC table dump is the
// largest: about 64 bytes a MAC).
const maxResponseBytes = 256 << 20

// Client calls podwired's control API on its unix socket. It is safe for
// concurrent use and keeps idle connections for reuse; CloseIdleConnections
// releases them.
type Client struct {
	// UserAgent is sent with every request, so that podwired's logs say who
	// called ("podwirectl", "podwire-cni"). Set it before the first call.
	UserAgent string

	socket string
	hc     *http.Client
}

// New returns a client for the API served on socketPath (DefaultSocket if
// empty). It does not connect: the first call does, and fails with an error
// matching ErrUnreachable if nothing answers there.
func New(socketPath string) *Client {
	if socketPath == "" {
		socketPath = DefaultSocket
	}
	d := &net.Dialer{Timeout: DialTimeout}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "unix", socketPath)
			if err != nil {
				var op *net.OpError
				if errors.As(err, &op) && op.Err != nil {
					err = op.Err // "connect: no such file or directory", without repeating the path
				}
				return nil, &unreachableError{socket: socketPath, err: err}
			}
			return conn, nil
		},
		MaxIdleConns:        4,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &Client{
		UserAgent: "podwire-api-client/" + Version,
		socket:    socketPath,
		hc:        &http.Client{Transport: tr, Timeout: RequestTimeout},
	}
}

// Socket is the socket path the client dials.
func (c *Client) Socket() string { return c.socket }

// CloseIdleConnections closes connections kept for reuse.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Do sends one request: in (if not nil) as the JSON body, the JSON answer
// decoded into out (if not nil; a *json.RawMessage gets the body as sent).
// path is the URL path with its query, e.g. "/v1/ports"; path elements must
// already be escaped (NetworkPath and AttachmentPath do that). The typed
// methods are built on it.
//
// Errors: one matching ErrUnreachable when the socket does not answer
// (nothing was sent); *Error for a 4xx or 5xx answer; otherwise a transport
// or decoding error (the request may or may not have been applied).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://podwired"+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *unreachableError
		if errors.As(err, &ue) {
			return ue
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("podwired at %s: %s %s: %w", c.socket, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("podwired at %s: %s %s: read response: %w", c.socket, method, path, err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("podwired at %s: %s %s: response larger than %d bytes", c.socket, method, path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(resp.StatusCode, b)
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("podwired at %s: %s %s: decode response: %w", c.socket, method, path, err)
	}
	return nil
}

// responseError turns a 4xx/5xx answer into an *Error, also when the body is
// not an ErrorBody (a proxy, or a panic page).
func responseError(status int, body []byte) *Error {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return &Error{Status: status, Message: eb.Error, Field: eb.Field}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	return &Error{Status: status, Message: msg}
}

// NetworkPath is "/v1/networks/{name}", escaped.
func NetworkPath(name string) string {
	return "/" + Version + "/networks/" + url.PathEscape(name)
}

// AttachmentPath is "/v1/attachments/{containerID}/{ifname}", escaped.
func AttachmentPath(containerID, ifName string) string {
	return "/" + Version + "/attachments/" + url.PathEscape(containerID) + "/" + url.PathEscape(ifName)
}

// Status returns podwired's version and object counts (GET /v1/status).
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Networks lists the networks (GET /v1/networks).
func (c *Client) Networks(ctx context.Context) ([]Network, error) {
	var l NetworkList
	err := c.Do(ctx, http.MethodGet, "/v1/networks", nil, &l)
	return l.Networks, err
}

// Network returns one network (GET /v1/networks/{name}); ErrNotFound if
// there is none by that name.
func (c *Client) Network(ctx context.Context, name string) (Network, error) {
	var n Network
	if err := ValidateName(FieldName, name); err != nil {
		return n, err
	}
	err := c.Do(ctx, http.MethodGet, NetworkPath(name), nil, &n)
	return n, err
}

// PutNetwork creates n or updates the network of that name, and returns it
// as podwired stored it (PUT /v1/networks/{name}). Repeating a PUT is
// harmless. An invalid n is refused with a *FieldError before anything is
// sent.
func (c *Client) PutNetwork(ctx context.Context, n Network) (Network, error) {
	var out Network
	if err := n.Validate(); err != nil {
		return out, err
	}
	err := c.Do(ctx, http.MethodPut, NetworkPath(n.Name), n, &out)
	return out, err
}

// DeleteNetwork deletes a network (DELETE /v1/networks/{name}): ErrNotFound
// if there is none, ErrConflict while attachments use it.
func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	if err := ValidateName(FieldName, name); err != nil {
		return err
	}
	return c.Do(ctx, http.MethodDelete, NetworkPath(name), nil, nil)
}

// MACs returns a network's MAC table (GET /v1/networks/{name}/macs).
func (c *Client) MACs(ctx context.Context, network string) ([]MACEntry, error) {
	var l MACList
	if err := ValidateName(FieldName, network); err != nil {
		return nil, err
	}
	err := c.Do(ctx, http.MethodGet, NetworkPath(network)+"/macs", nil, &l)
	return l.MACs, err
}

// Attachments lists the attachments with their status (GET /v1/attachments).
func (c *Client) Attachments(ctx context.Context) ([]Attachment, error) {
	var l AttachmentList
	err := c.Do(ctx, http.MethodGet, "/v1/attachments", nil, &l)
	return l.Attachments, err
}

// Attachment returns one attachment with its status
// (GET /v1/attachments/{containerID}/{ifname}); ErrNotFound if absent.
func (c *Client) Attachment(ctx context.Context, containerID, ifName string) (Attachment, error) {
	var a Attachment
	if err := validateKey(containerID, ifName); err != nil {
		return a, err
	}
	err := c.Do(ctx, http.MethodGet, AttachmentPath(containerID, ifName), nil, &a)
	return a, err
}

// PutAttachment creates the attachment a (its spec part) and returns it with
// its status (PUT /v1/attachments/{containerID}/{ifname}). Repeating a PUT
// with the same spec returns the existing attachment; a different spec for
// an existing key is ErrConflict, naming the field. An invalid a is refused
// with a *FieldError before anything is sent.
func (c *Client) PutAttachment(ctx context.Context, a Attachment) (Attachment, error) {
	var out Attachment
	a = a.Spec()
	if err := a.Validate(); err != nil {
		return out, err
	}
	err := c.Do(ctx, http.MethodPut, AttachmentPath(a.ContainerID, a.IfName), a, &out)
	return out, err
}

// DeleteAttachment removes an attachment and its port
// (DELETE /v1/attachments/{containerID}/{ifname}); ErrNotFound if absent.
func (c *Client) DeleteAttachment(ctx context.Context, containerID, ifName string) error {
	if err := validateKey(containerID, ifName); err != nil {
		return err
	}
	return c.Do(ctx, http.MethodDelete, AttachmentPath(containerID, ifName), nil, nil)
}

func validateKey(containerID, ifName string) error {
	if err := ValidateContainerID(containerID); err != nil {
		return err
	}
	return ValidateIfName(ifName)
}

// Ports lists every port with its link and counters (GET /v1/ports).
func (c *Client) Ports(ctx context.Context) ([]Port, error) {
	var l PortList
	err := c.Do(ctx, http.MethodGet, "/v1/ports", nil, &l)
	return l.Ports, err
}

// Counters returns the per-port and per-worker counters (GET /v1/counters).
func (c *Client) Counters(ctx context.Context) (CounterReport, error) {
	var r CounterReport
	err := c.Do(ctx, http.MethodGet, "/v1/counters", nil, &r)
	return r, err
}

// Workers lists the poll-mode workers and their load (GET /v1/workers).
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var l WorkerList
	err := c.Do(ctx, http.MethodGet, "/v1/workers", nil, &l)
	return l.Workers, err
}
