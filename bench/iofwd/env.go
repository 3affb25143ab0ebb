package iofwd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Env describes the machine and software of a run, for JSON results.
type Env struct {
	Time        string `json:"time"`
	CPUModel    string `json:"cpu_model"`
	NumCPU      int    `json:"num_cpu"`
	Kernel      string `json:"kernel"`
	DPDKVersion string `json:"dpdk_version"`
	GoVersion   string `json:"go_version"`
	Testpmd     string `json:"testpmd"`
}

// Environment describes this machine; testpmd is the dpdk-testpmd used.
func Environment(testpmd string) Env {
	e := Env{
		Time:        time.Now().UTC().Format(time.RFC3339),
		CPUModel:    cpuModel(),
		NumCPU:      runtime.NumCPU(),
		DPDKVersion: "unknown",
		GoVersion:   runtime.Version(),
		Testpmd:     testpmd,
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("pkg-config", "--modversion", "libdpdk").Output(); err == nil {
		e.DPDKVersion = strings.TrimSpace(string(out))
	}
	return e
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// WriteJSON writes v, indented, to file through a .tmp file and a rename,
// creating the file's directory if needed.
func WriteJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if dir := filepath.Dir(file); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("results directory: %w", err)
		}
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
