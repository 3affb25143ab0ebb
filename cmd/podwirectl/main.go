package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/podwire/podwire/api"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is podwirectl without the process: it returns the exit status (0 ok,
// 1 error) and writes an error to stderr as one line.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	inv, err := parse(args, getenv)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "podwirectl: %v (run 'podwirectl help' for usage)\n", err)
		} else {
			fmt.Fprintf(stderr, "podwirectl: %v\n", err)
		}
		return 1
	}
	if inv.help {
		writeUsage(stdout, inv.cmd)
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, inv.timeout)
	defer cancel()
	c := api.New(inv.socket)
	c.UserAgent = "podwirectl/" + api.Version
	defer c.CloseIdleConnections()
	if err := execute(ctx, inv, c, stdout, time.Now()); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer from podwired at %s within %v", inv.socket, inv.timeout)
		}
		fmt.Fprintf(stderr, "podwirectl: %v\n", err)
		return 1
	}
	return 0
}

// execute runs a parsed command against podwired.
func execute(ctx context.Context, inv *invocation, c *api.Client, w io.Writer, now time.Time) error {
	// Each command is one request; the answer is printed as the API's JSON
	// (-o json) or decoded and rendered as a table.
	var (
		method = http.MethodGet
		path   string
		body   any
		render func(raw []byte) error
	)
	switch inv.cmd.name() {
	case "status":
		path = "/v1/status"
		render = as(func(st api.Status) error { return renderStatus(w, st, inv.socket, now) })
	case "ports":
		path = "/v1/ports"
		render = as(func(l api.PortList) error { return renderPorts(w, l.Ports) })
	case "networks":
		path = "/v1/networks"
		render = as(func(l api.NetworkList) error { return renderNetworks(w, l.Networks) })
	case "macs":
		path = api.NetworkPath(inv.args[0]) + "/macs"
		render = as(func(l api.MACList) error { return renderMACs(w, l.MACs) })
	case "counters":
		path = "/v1/counters"
		render = as(func(r api.CounterReport) error { return renderCounters(w, r) })
	case "drops":
		path = "/v1/counters"
		render = as(func(r api.CounterReport) error { return renderDrops(w, r) })
	case "workers":
		path = "/v1/workers"
		render = as(func(l api.WorkerList) error { return renderWorkers(w, l.Workers) })
	case "attachments":
		path = "/v1/attachments"
		render = as(func(l api.AttachmentList) error { return renderAttachments(w, l.Attachments, now) })
	case "network add":
		method, path, body = http.MethodPut, api.NetworkPath(inv.network.Name), inv.network
		render = as(func(n api.Network) error { return renderNetworks(w, []api.Network{n}) })
	case "network del":
		method, path = http.MethodDelete, api.NetworkPath(inv.args[0])
		render = func([]byte) error { _, err := fmt.Fprintf(w, "deleted network %s\n", inv.args[0]); return err }
	case "attach":
		method, path, body = http.MethodPut, api.AttachmentPath(inv.attach.ContainerID, inv.attach.IfName), inv.attach
		render = as(func(a api.Attachment) error { return renderAttachment(w, a, now) })
	case "detach":
		method, path = http.MethodDelete, api.AttachmentPath(inv.args[0], inv.args[1])
		render = func([]byte) error { _, err := fmt.Fprintf(w, "detached %s/%s\n", inv.args[0], inv.args[1]); return err }
	default:
		return fmt.Errorf("command %q is not implemented", inv.cmd.name())
	}

	var raw json.RawMessage
	if err := c.Do(ctx, method, path, body, &raw); err != nil {
		return err
	}
	if inv.output == "json" {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil // DELETE: 204, no body
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("podwired sent invalid JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	return render(raw)
}

// as decodes a response into T before rendering it.
func as[T any](render func(T) error) func([]byte) error {
	return func(raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode podwired's answer: %w", err)
		}
		return render(v)
	}
}
