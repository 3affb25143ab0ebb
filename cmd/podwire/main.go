// Command podwire is the podwire CNI plugin. It attaches a pod interface to
// podwired (package cni; docs/cni.md). Install it in the runtime's CNI
// binary directory (/opt/cni/bin) and refer to it as "type": "podwire".
package main

import (
	"log/slog"
	"os"
	"runtime"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/podwire/podwire/cni"
)

func init() {
	// Namespace switches must stay on the thread that made them.
	runtime.LockOSThread()
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := &cni.Plugin{Log: log.With("plugin", "podwire", "command", os.Getenv("CNI_COMMAND"))}
	skel.PluginMainFuncs(p.Funcs(), cni.VersionInfo(), cni.About)
}
