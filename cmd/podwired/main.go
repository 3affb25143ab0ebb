// Command podwired is podwire's node forwarder: it owns the uplink and one
// port per pod interface (vhost-user, memif), switches between them on
// poll-mode workers, and serves the control API that the CNI plugin and
// podwirectl use. See docs/podwired.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/podwire/podwire/daemon"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "podwired:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		configPath  = flag.String("config", "", "YAML config file, overlaid on the embedded default")
		printConfig = flag.Bool("print-default-config", false, "print the embedded default config and exit")
		lcores      = flag.String("lcores", "", "EAL cores, e.g. 0,1 (overrides eal.lcores)")
		filePrefix  = flag.String("file-prefix", "", "EAL file prefix (overrides eal.filePrefix)")
		socketDir   = flag.String("socket-dir", "", "per-pod socket directories (overrides socketDir)")
		apiSocket   = flag.String("api-socket", "", "control API unix socket (overrides api.socket)")
		stateDir    = flag.String("state-dir", "", "state directory (overrides stateDir)")
		metricsAddr = flag.String("metrics-addr", "", "Prometheus address, e.g. 127.0.0.1:9120 (overrides metrics.addr)")
		idleSleep   = flag.String("idle-sleep", "", "idle worker back-off, 0 to busy-poll (overrides workers.idleSleep)")
		logLevel    = flag.String("log-level", "info", "log level: debug, info, warn, error")
		logJSON     = flag.Bool("log-json", false, "log as JSON")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", flag.Args())
	}
	if *printConfig {
		_, err := os.Stdout.Write(daemon.DefaultConfigYAML)
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: %w", *logLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var log *slog.Logger
	if *logJSON {
		log = slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	} else {
		log = slog.New(slog.NewTextHandler(os.Stderr, hopts))
	}
	cfg, err := daemon.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *lcores != "" {
		cfg.EAL.Lcores = nil
		for _, s := range strings.Split(*lcores, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-lcores %q: %w", *lcores, err)
			}
			cfg.EAL.Lcores = append(cfg.EAL.Lcores, c)
		}
		if len(cfg.EAL.Lcores) > 0 && cfg.EAL.MainLcore != nil {
			m := cfg.EAL.Lcores[0]
			cfg.EAL.MainLcore = &m
		}
	}
	setIf(&cfg.EAL.FilePrefix, *filePrefix)
	setIf(&cfg.SocketDir, *socketDir)
	setIf(&cfg.API.Socket, *apiSocket)
	setIf(&cfg.StateDir, *stateDir)
	setIf(&cfg.Metrics.Addr, *metricsAddr)
	if *idleSleep != "" {
		if err := cfg.Workers.IdleSleep.UnmarshalJSON([]byte(strconv.Quote(*idleSleep))); err != nil {
			return fmt.Errorf("-idle-sleep: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.Wait(ctx)
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
