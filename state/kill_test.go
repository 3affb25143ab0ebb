package state

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// killChildEnv, when set to a directory, turns the test binary into the
// child of TestKillDuringSave (see TestMain).
const killChildEnv = "PODWIRE_STATE_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		os.Exit(killChild(dir))
	}
	os.Exit(m.Run())
}

// genState is the state of generation g: deterministic, of varying size (up
// to about 100 KB, so that a write takes several syscalls), identified by
// its first network "gen-<g>".
func genState(g int) State {
	st := State{Networks: []api.Network{{Name: "gen-" + strconv.Itoa(g), VLAN: uint16(g % 4095)}}}
	for i := range g % 5 {
		st.Networks = append(st.Networks, api.Network{Name: fmt.Sprintf("net%d", i), MaxMACs: g % 1000})
	}
	for i := range (g % 40) * 10 {
		st.Attachments = append(st.Attachments, api.Attachment{
			ContainerID: fmt.Sprintf("%064x", g*1000+i),
			IfName:      "net" + strconv.Itoa(i%16),
			Network:     "gen-" + strconv.Itoa(g),
			Kind:        api.KindKernel,
			Netns:       fmt.Sprintf("/var/run/netns/cni-%08x-%04x", g, i),
			MAC:         fmt.Sprintf("02:00:00:%02x:%02x:%02x", g%256, i/256, i%256),
		})
	}
	return st
}

// genOf returns the generation of st, and whether st is exactly what Save
// wrote for it.
func genOf(st State) (int, bool) {
	if len(st.Networks) == 0 {
		return 0, false
	}
	var name string
	for _, n := range st.Networks {
		if strings.HasPrefix(n.Name, "gen-") {
			name = n.Name
		}
	}
	g, err := strconv.Atoi(strings.TrimPrefix(name, "gen-"))
	if err != nil {
		return 0, false
	}
	return g, reflect.DeepEqual(st, normalize(genState(g)))
}

// killChild opens the store in dir, continues from the generation it finds,
// says "ready" after its first Save, and saves the next generations until
// it is killed.
func killChild(dir string) int {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	st, err := s.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	g, _ := genOf(st)
	for i := 1; ; i++ {
		if err := s.Save(genState(g + i)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
		if i == 1 {
			fmt.Println("ready")
		}
	}
}

// TestKillDuringSave runs a child process that loops Save and SIGKILLs it
// at a random moment, 50 times. After each kill, Load must succeed without
// falling back, return a state that was saved whole, and never go back to
// an older generation than the last Load saw.
func TestKillDuringSave(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping 50 child processes")
	}
	dir := t.TempDir()
	last, leftovers := 0, 0
	const rounds = 50
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan error, 1)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("child said %q", line)
			}
			ready <- err
		}()
		select {
		case err = <-ready:
		case <-time.After(30 * time.Second):
			err = fmt.Errorf("child not ready after 30s")
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: %v", round, err)
		}
		time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL, by PID
			t.Fatal(err)
		}
		cmd.Wait()

		if m, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(m) > 0 {
			leftovers++
		}
		s, logs := openStore(t, dir)
		st, err := s.Load()
		if err != nil {
			t.Fatalf("round %d: Load after SIGKILL: %v", round, err)
		}
		g, ok := genOf(st)
		if !ok {
			t.Fatalf("round %d: Load returned a state that was never saved: %d networks, %d attachments", round, len(st.Networks), len(st.Attachments))
		}
		if g <= last {
			t.Fatalf("round %d: generation %d after %d: a completed Save was lost", round, g, last)
		}
		if l := logs.String(); strings.Contains(l, "level=WARN") {
			t.Fatalf("round %d: Load warned after a SIGKILL: %s", round, l)
		}
		last = g
		s.Close()
	}
	t.Logf("%d kills; %d generations saved; %d kills left a temporary file (killed mid-Save)", rounds, last, leftovers)
}
