// Package api is podwired's control API: the JSON types, their validation,
// the wire helpers the server uses, and a Go client. podwired serves it over
// HTTP on a unix socket (DefaultSocket, /run/podwire/podwired.sock);
// podwirectl and the CNI plugin are its clients. The package uses only the
// standard library and builds with CGO_ENABLED=0; it never imports dpdk.
//
// # Resources (version v1)
//
//	GET    /v1/status                               Status
//	GET    /v1/networks                             NetworkList
//	GET    /v1/networks/{name}                      Network
//	PUT    /v1/networks/{name}                      Network in, Network out
//	DELETE /v1/networks/{name}                      204
//	GET    /v1/networks/{name}/macs                 MACList
//	GET    /v1/attachments                          AttachmentList
//	GET    /v1/attachments/{containerID}/{ifname}   Attachment (spec and status)
//	PUT    /v1/attachments/{containerID}/{ifname}   Attachment spec in, Attachment out
//	DELETE /v1/attachments/{containerID}/{ifname}   204
//	GET    /v1/ports                                PortList
//	GET    /v1/counters                             CounterReport
//	GET    /v1/workers                              WorkerList
//
// The Route* constants are these as net/http.ServeMux patterns. JSON field
// names are lowerCamelCase; lists come wrapped in an object ({"networks":
// [...]}) so that fields can be added later. Clients ignore fields they do
// not know; the server refuses them (DecodeStrict).
//
// # Semantics the server keeps
//
//   - PUT is idempotent. A PUT of a network creates or updates it. A PUT of
//     an attachment whose key exists with the same spec (SpecDiff == "")
//     returns the existing attachment with 200; with a different spec it is
//     409 naming the first differing field. A new attachment is 201.
//   - The path names the object. A body that names it too must agree (a
//     mismatch is 400 naming the field); an empty name in the body is taken
//     from the path.
//   - Input is validated before anything changes: invalid input is 400 with
//     the field named, and changes nothing. Status fields in a PUT body are
//     ignored.
//   - DELETE of an absent object is 404 (ErrNotFound), so that an operator
//     sees a typo; idempotent callers such as the CNI plugin's DEL treat
//     ErrNotFound as success. Deleting a network that attachments use is
//     409.
//   - Every error is an ErrorBody, {"error": "...", "field": "..."}, with a
//     4xx or 5xx status: WriteError writes it, Client returns it as *Error.
//
// # Errors on the client side
//
// Client methods return:
//   - *FieldError (errors.Is(err, ErrInvalid)) for input they refuse before
//     sending anything;
//   - an error matching ErrUnreachable when the socket does not answer
//     (missing, connection refused, permission denied, dial timeout); its
//     message names the socket path, and nothing was sent, so the caller
//     may fail fast (the CNI plugin reports CNI error code 11, "try again
//     later");
//   - *Error for a 4xx/5xx answer (errors.Is with ErrNotFound, ErrConflict,
//     ErrInvalid);
//   - any other error for a connection that broke mid-request: the request
//     may or may not have been applied; PUT and DELETE are safe to repeat.
//
// # Ownership and threads
//
// A Client is safe for concurrent use and holds at most a few idle
// connections; CloseIdleConnections releases them. Values returned by the
// client are the caller's. Nothing here starts goroutines of its own.
package api
