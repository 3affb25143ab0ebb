package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/forwarder"
)

// MaxAPIClients bounds concurrent API connections; more wait in the
// listen backlog.
const MaxAPIClients = 64

func (d *Daemon) serveAPI() error {
	path := d.cfg.API.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("api socket directory: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	mode := os.FileMode(0o660)
	if d.cfg.API.Mode != "" {
		m, _ := strconv.ParseUint(d.cfg.API.Mode, 8, 32)
		mode = os.FileMode(m)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return fmt.Errorf("api socket mode: %w", err)
	}
	if g := d.cfg.API.Group; g != "" {
		gid, err := lookupGroup(g)
		if err == nil {
			err = os.Chown(path, -1, gid)
		}
		if err != nil {
			ln.Close()
			return fmt.Errorf("api socket group %q: %w", g, err)
		}
	}
	d.apiLn = &limitListener{Listener: ln, sem: make(chan struct{}, MaxAPIClients)}
	d.api = &http.Server{Handler: d.routes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := d.api.Serve(d.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.served <- fmt.Errorf("api server: %w", err)
		}
	}()
	return nil
}

func lookupGroup(g string) (int, error) {
	if id, err := strconv.Atoi(g); err == nil {
		return id, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// removeStaleSocket removes a socket file nobody listens on; it refuses
// to touch anything else, or a socket another podwired serves.
func removeStaleSocket(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("api socket %s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("api socket %s is served by another process (another podwired running?)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("api socket %s: %w", path, err)
	}
	return os.Remove(path)
}

// limitListener accepts at most cap(sem) connections at a time.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	release func()
	closed  bool
}

func (c *limitConn) Close() error {
	if !c.closed {
		c.closed = true
		c.release()
	}
	return c.Conn.Close()
}

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(api.RouteStatus, d.handleStatus)
	mux.HandleFunc(api.RouteNetworks, d.handleNetworks)
	mux.HandleFunc(api.RouteNetworkGet, d.handleNetworkGet)
	mux.HandleFunc(api.RouteNetworkPut, d.handleNetworkPut)
	mux.HandleFunc(api.RouteNetworkDelete, d.handleNetworkDelete)
	mux.HandleFunc(api.RouteNetworkMACs, d.handleMACs)
	mux.HandleFunc(api.RouteAttachments, d.handleAttachments)
	mux.HandleFunc(api.RouteAttachmentGet, d.handleAttachmentGet)
	mux.HandleFunc(api.RouteAttachmentPut, d.handleAttachmentPut)
	mux.HandleFunc(api.RouteAttachmentDelete, d.handleAttachmentDelete)
	mux.HandleFunc(api.RoutePorts, d.handlePorts)
	mux.HandleFunc(api.RouteCounters, d.handleCounters)
	mux.HandleFunc(api.RouteWorkers, d.handleWorkers)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = api.WriteError(w, &api.Error{Status: http.StatusNotFound, Message: "no such API path: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func writeErr(w http.ResponseWriter, status int, field, format string, args ...any) {
	_ = api.WriteError(w, &api.Error{Status: status, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	st := api.Status{Version: Version, APIVersion: api.Version, StartedAt: d.started,
		Workers: len(d.eng.Workers()), Ports: len(d.eng.Ports()), Networks: len(d.networks),
		Mbufs: d.pool.Size(), MbufsInUse: d.pool.InUse()}
	d.mu.Unlock()
	_ = api.WriteJSON(w, http.StatusOK, st)
}

func (d *Daemon) handleNetworks(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var l api.NetworkList
	for _, name := range sortedKeys(d.networks) {
		l.Networks = append(l.Networks, d.networks[name])
	}
	_ = api.WriteJSON(w, http.StatusOK, l)
}

func (d *Daemon) handleNetworkGet(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.networks[r.PathValue(api.PathName)]
	if !ok {
		writeErr(w, http.StatusNotFound, api.FieldName, "no network %q", r.PathValue(api.PathName))
		return
	}
	_ = api.WriteJSON(w, http.StatusOK, n)
}

func (d *Daemon) handleNetworkPut(w http.ResponseWriter, r *http.Request) {
	var n api.Network
	if err := api.DecodeStrict(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes), &n); err != nil {
		_ = api.WriteError(w, err)
		return
	}
	name := r.PathValue(api.PathName)
	if n.Name == "" {
		n.Name = name
	}
	if n.Name != name {
		writeErr(w, http.StatusBadRequest, api.FieldName, "name %q in the body does not match %q in the path", n.Name, name)
		return
	}
	if err := n.Validate(); err != nil {
		_ = api.WriteError(w, err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.networks[name]; ok {
		if old != n {
			writeErr(w, http.StatusConflict, api.FieldName, "network %s exists with another configuration", name)
			return
		}
		_ = api.WriteJSON(w, http.StatusOK, n)
		return
	}
	for _, o := range d.networks {
		if n.VLAN != 0 && o.VLAN == n.VLAN {
			writeErr(w, http.StatusConflict, api.FieldVLAN, "vlan %d is already used by network %s", n.VLAN, o.Name)
			return
		}
	}
	if err := d.addNetwork(r.Context(), n); err != nil {
		writeErr(w, http.StatusInternalServerError, "", "add network: %v", err)
		return
	}
	if err := d.persist(); err != nil {
		delete(d.networks, name)
		_ = d.eng.RemoveNetwork(context.Background(), name)
		writeErr(w, http.StatusInternalServerError, "", "%v", err)
		return
	}
	d.log.Info("network added", "network", name, "vlan", n.VLAN)
	_ = api.WriteJSON(w, http.StatusCreated, n)
}

func (d *Daemon) handleNetworkDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue(api.PathName)
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.networks[name]
	if !ok {
		writeErr(w, http.StatusNotFound, api.FieldName, "no network %q", name)
		return
	}
	for _, a := range d.atts {
		if a.spec.Network == name {
			writeErr(w, http.StatusConflict, api.FieldName, "network %s is used by attachment %s", name, a.spec.Key())
			return
		}
	}
	if err := d.eng.RemoveNetwork(r.Context(), name); err != nil {
		writeErr(w, http.StatusConflict, api.FieldName, "%v", err)
		return
	}
	delete(d.networks, name)
	if err := d.persist(); err != nil {
		d.networks[name] = n
		_ = d.addNetwork(context.Background(), n)
		writeErr(w, http.StatusInternalServerError, "", "%v", err)
		return
	}
	d.log.Info("network removed", "network", name)
	w.WriteHeader(http.StatusNoContent)
}

func (d *Daemon) handleMACs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue(api.PathName)
	macs, err := d.eng.MACs(name)
	if err != nil {
		writeErr(w, http.StatusNotFound, api.FieldName, "%v", err)
		return
	}
	names := d.portDisplayNames()
	l := api.MACList{Network: name, MACs: []api.MACEntry{}}
	for _, m := range macs {
		port := m.Port
		if n, ok := names[port]; ok {
			port = n
		}
		l.MACs = append(l.MACs, api.MACEntry{MAC: m.MAC, Port: port, Static: m.Static, AgeSeconds: int(m.Age / time.Second)})
	}
	_ = api.WriteJSON(w, http.StatusOK, l)
}

// portDisplayNames maps engine port names to "portname (container/ifname)".
func (d *Daemon) portDisplayNames() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := map[string]string{}
	for _, a := range d.atts {
		m[a.portName] = a.portName
	}
	return m
}

func (d *Daemon) handleAttachments(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := api.AttachmentList{Attachments: []api.Attachment{}}
	for _, key := range sortedKeys(d.atts) {
		l.Attachments = append(l.Attachments, d.status(d.atts[key]))
	}
	_ = api.WriteJSON(w, http.StatusOK, l)
}

func attKey(r *http.Request) (string, error) {
	cid, ifn := r.PathValue(api.PathContainerID), r.PathValue(api.PathIfName)
	if err := api.ValidateContainerID(cid); err != nil {
		return "", err
	}
	if err := api.ValidateIfName(ifn); err != nil {
		return "", err
	}
	return cid + "/" + ifn, nil
}

// lookupAttachment finds the attachment the request's path names, or
// answers 400 or 404 and returns false. Called with d.mu held.
func (d *Daemon) lookupAttachment(w http.ResponseWriter, r *http.Request) (string, *attachment, bool) {
	key, err := attKey(r)
	if err != nil {
		_ = api.WriteError(w, err)
		return "", nil, false
	}
	a, ok := d.atts[key]
	if !ok {
		writeErr(w, http.StatusNotFound, "", "no attachment %s", key)
		return "", nil, false
	}
	return key, a, true
}

func (d *Daemon) handleAttachmentGet(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, a, ok := d.lookupAttachment(w, r); ok {
		_ = api.WriteJSON(w, http.StatusOK, d.status(a))
	}
}

func (d *Daemon) handleAttachmentPut(w http.ResponseWriter, r *http.Request) {
	key, err := attKey(r)
	if err != nil {
		_ = api.WriteError(w, err)
		return
	}
	var a api.Attachment
	if err := api.DecodeStrict(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes), &a); err != nil {
		_ = api.WriteError(w, err)
		return
	}
	a = a.Spec()
	if a.ContainerID == "" && a.IfName == "" {
		a.ContainerID, a.IfName = r.PathValue(api.PathContainerID), r.PathValue(api.PathIfName)
	}
	if a.Key() != key {
		writeErr(w, http.StatusBadRequest, api.FieldContainerID, "attachment %s in the body does not match %s in the path", a.Key(), key)
		return
	}
	a = a.WithDefaults()
	if err := a.Validate(); err != nil {
		_ = api.WriteError(w, err)
		return
	}
	if a.SocketDir != "" {
		writeErr(w, http.StatusUnprocessableEntity, api.FieldSocketDir, "socketDir is not supported: podwired places sockets under %s", d.cfg.SocketDir)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.networks[a.Network]; !ok {
		writeErr(w, http.StatusUnprocessableEntity, api.FieldNetwork, "no network %q", a.Network)
		return
	}
	if err := d.checkPodPaths(a); err != nil {
		writePortErr(w, key, err)
		return
	}
	if old, ok := d.atts[key]; ok {
		if f := old.spec.SpecDiff(a); f != "" && !sameKernelMAC(old, a) {
			writeErr(w, http.StatusConflict, f, "attachment %s exists with a different %s", key, f)
			return
		}
		if !old.hasPort() { // a port that failed before: try again
			old.err = d.createVport(r.Context(), old)
		}
		if old.err != nil {
			writePortErr(w, key, old.err)
			return
		}
		_ = api.WriteJSON(w, http.StatusOK, d.status(old))
		return
	}
	if len(d.eng.Ports()) >= maxPorts {
		writeErr(w, http.StatusServiceUnavailable, "", "podwired has %d ports, its limit (DPDK RTE_MAX_ETHPORTS)", maxPorts)
		return
	}
	att := d.createPort(r.Context(), a, false)
	if att.err != nil {
		writePortErr(w, key, att.err)
		return
	}
	d.atts[key] = att
	if err := d.persist(); err != nil {
		delete(d.atts, key)
		_ = d.removePort(context.Background(), att)
		writeErr(w, http.StatusInternalServerError, "", "%v", err)
		return
	}
	where := []any{"netns", a.Netns}
	if att.vport != nil {
		where = []any{"socket", att.vport.SocketPath()}
	}
	d.log.Info("attachment added", append([]any{"container_id", a.ContainerID, "ifname", a.IfName, "kind", a.Kind,
		"network", a.Network, "port", att.portName}, where...)...)
	_ = api.WriteJSON(w, http.StatusCreated, d.status(att))
}

func (d *Daemon) handleAttachmentDelete(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key, att, ok := d.lookupAttachment(w, r)
	if !ok {
		return
	}
	if err := d.removePort(r.Context(), att); err != nil {
		writeErr(w, http.StatusInternalServerError, "", "remove port of %s: %v", key, err)
		return
	}
	delete(d.atts, key)
	if err := d.persist(); err != nil {
		writeErr(w, http.StatusInternalServerError, "", "%v", err)
		return
	}
	d.log.Info("attachment removed", "container_id", att.spec.ContainerID, "ifname", att.spec.IfName, "port", att.portName)
	w.WriteHeader(http.StatusNoContent)
}

// maxPorts is DPDK's port limit in Debian's build (RTE_MAX_ETHPORTS).
var maxPorts = 32

func toCounters(c forwarder.Counters) api.Counters {
	return api.Counters{RxPackets: c.RxPackets, RxBytes: c.RxBytes, TxPackets: c.TxPackets, TxBytes: c.TxBytes, Drops: c.Drops}
}

func (d *Daemon) handlePorts(w http.ResponseWriter, r *http.Request) {
	l := api.PortList{Ports: []api.Port{}}
	for _, p := range d.eng.Ports() {
		kind := string(p.Kind)
		l.Ports = append(l.Ports, api.Port{Name: p.Name, ID: p.ID, Kind: kind, Network: p.Network,
			Link: api.Link{Up: p.Up}, MAC: p.MAC, RxQueues: int(p.RxQueues), Counters: toCounters(p.Counters)})
	}
	_ = api.WriteJSON(w, http.StatusOK, l)
}

func (d *Daemon) handleCounters(w http.ResponseWriter, r *http.Request) {
	rep := api.CounterReport{Time: time.Now(), Ports: []api.PortCounters{}, Workers: []api.WorkerCounters{}}
	for _, p := range d.eng.Ports() {
		rep.Ports = append(rep.Ports, api.PortCounters{Port: p.Name, PortID: p.ID, Counters: toCounters(p.Counters)})
	}
	for _, wk := range d.eng.Workers() {
		rep.Workers = append(rep.Workers, api.WorkerCounters{Worker: wk.ID, Lcore: int(wk.Lcore), Counters: toCounters(wk.Counters)})
	}
	_ = api.WriteJSON(w, http.StatusOK, rep)
}

func (d *Daemon) handleWorkers(w http.ResponseWriter, r *http.Request) {
	l := api.WorkerList{Workers: []api.Worker{}}
	for _, wk := range d.eng.Workers() {
		aw := api.Worker{ID: wk.ID, Lcore: int(wk.Lcore), CPU: wk.CPU, Loops: wk.Loops, Packets: wk.Packets, RxQueues: []api.QueueRef{}}
		if wk.Loops > 0 {
			aw.Busy = 100 * float64(wk.BusyLoops) / float64(wk.Loops)
		}
		for _, q := range wk.RxQueues {
			aw.RxQueues = append(aw.RxQueues, api.QueueRef{Port: q.Port, Queue: q.Queue})
		}
		l.Workers = append(l.Workers, aw)
	}
	_ = api.WriteJSON(w, http.StatusOK, l)
}
