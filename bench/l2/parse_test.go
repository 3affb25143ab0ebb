package l2

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/podwire/podwire/bench/iofwd"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata are real transcripts (stdbuf -oL, stdin and stdout on
// pipes) of the memif scenario at 64 B, run by hand with the arguments of
// FwdTestpmdArgs (burst stats on) and PodArgs:
//
//   - fwd-memif-mac.txt, the forwarder: start, show port info all,
//     show port stats all (twice), stop, quit;
//   - pod-memif.txt, the pod: show port info all (twice), start tx_first 32,
//     stop, quit.
var (
	fwdCmds = []string{"start", "show port info all", "show port stats all", "stop", "quit"}
	podCmds = []string{"show port info all", "start tx_first 32", "stop", "quit"}
)

func TestParseFwdStats(t *testing.T) {
	for _, tc := range []struct {
		file string
		cmds []string
		want FwdStats
	}{
		{"pod-memif.txt", podCmds, FwdStats{RxPackets: 21658112, TxPackets: 21660160,
			RxBursts: 2 * 3777624, RxBurstPackets: 2 * 10829056}},
		{"fwd-memif-mac.txt", fwdCmds, FwdStats{RxPackets: 21660160, TxPackets: 21660160,
			RxBursts: 2 * 78438923, RxBurstPackets: 2 * 10830080}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseFwdStats(iofwd.CleanTranscript(readTestdata(t, tc.file), tc.cmds))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if got := (FwdStats{RxBursts: 4, RxBurstPackets: 10}).PktsPerPoll(); got != 2.5 {
		t.Errorf("PktsPerPoll = %v, want 2.5", got)
	}
	if got := (FwdStats{}).PktsPerPoll(); got != 0 {
		t.Errorf("PktsPerPoll without bursts = %v, want 0", got)
	}
}

func TestParseFwdStatsLastStop(t *testing.T) {
	// Two stops: the second one's numbers, and only its port blocks.
	block := func(rx, bursts string) string {
		return "  ---------------------- Forward statistics for port 0  ----------------------\n" +
			"  RX-packets: " + rx + "  RX-dropped: 0  RX-total: " + rx + "\n" +
			"  TX-packets: " + rx + "  TX-dropped: 3  TX-total: " + rx + "\n" +
			"  RX-bursts : " + bursts + " [50% of 0 pkts + 50% of 32 pkts]\n" +
			"  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n" +
			"  RX-packets: " + rx + "  RX-dropped: 1  RX-total: " + rx + "\n" +
			"  TX-packets: " + rx + "  TX-dropped: 3  TX-total: " + rx + "\n" +
			"  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++\n"
	}
	got, err := ParseFwdStats(block("100", "10") + "Done.\n" + block("640", "40"))
	if err != nil {
		t.Fatal(err)
	}
	want := FwdStats{RxPackets: 640, RxDropped: 1, TxPackets: 640, TxDropped: 3, RxBursts: 40, RxBurstPackets: 640}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{
		"",
		"RX-packets: 5 RX-dropped: 0 RX-total: 5\n",
		"  +++++ Accumulated forward statistics for all ports+++++\n  RX-packets: 5  RX-dropped: 0  RX-total: 5\n",
	} {
		if _, err := ParseFwdStats(bad); err == nil {
			t.Errorf("ParseFwdStats(%q) succeeded", bad)
		}
	}
}

func TestLinksUp(t *testing.T) {
	out := iofwd.CleanTranscript(readTestdata(t, "pod-memif.txt"), podCmds)
	if up, n := LinksUp(out); up != 4 || n != 4 {
		t.Errorf("pod transcript: %d of %d up, want 4 of 4 (two shows of two ports)", up, n)
	}
	if up, n := LinksUp("Link status: up\nLink speed: 10 Gbps\nLink status: down\n"); up != 1 || n != 2 {
		t.Errorf("%d of %d up, want 1 of 2", up, n)
	}
	if up, n := LinksUp("Bad arguments\n"); up != 0 || n != 0 {
		t.Errorf("%d of %d up, want none", up, n)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.3e-05
go_gc_duration_seconds_sum 0.000112
go_gc_duration_seconds_count 3
# TYPE go_memstats_mallocs_total counter
go_memstats_mallocs_total 1.2345e+06
podwire_port_rx_packets_total{kind="memif",network="default",port="mif-1"} 42
`
	got, err := ParseMetrics(text, "go_gc_duration_seconds_count", "go_memstats_mallocs_total")
	if err != nil {
		t.Fatal(err)
	}
	if got["go_gc_duration_seconds_count"] != 3 || got["go_memstats_mallocs_total"] != 1234500 {
		t.Errorf("got %v", got)
	}
	if _, err := ParseMetrics(text, "go_gc_cycles_total"); err == nil {
		t.Error("a missing metric was not an error")
	}
	if _, err := ParseMetrics("go_x notanumber\n", "go_x"); err == nil {
		t.Error("a bad value was not an error")
	}
}

func TestMetricsAddr(t *testing.T) {
	log := `time=2026-12-03T18:39:21.619Z level=INFO msg="worker started" worker=0 lcore=1 cpu=1
time=2026-12-03T18:39:21.629Z level=INFO msg=metrics addr=127.0.0.1:33351
`
	if got := MetricsAddr(log); got != "127.0.0.1:33351" {
		t.Errorf("MetricsAddr = %q", got)
	}
	if got := MetricsAddr("level=INFO msg=\"podwired started\"\n"); got != "" {
		t.Errorf("MetricsAddr without the line = %q", got)
	}
}

func TestParseSteal(t *testing.T) {
	stat := "cpu  335567 0 102824 388460 2060 0 21239 18082 0 0\n" +
		"cpu0 112569 0 49173 247884 731 0 13653 9495 0 0\n" +
		"cpu1 222997 0 53651 140576 1329 0 7585 8586 0 0\n" +
		"intr 1 2 3\nctxt 99\n"
	got := parseSteal(stat)
	if len(got) != 2 || got[0] != 9495 || got[1] != 8586 {
		t.Errorf("parseSteal = %v", got)
	}
	// Kernels before 2.6.11 had no steal column.
	if got := parseSteal("cpu0 1 2 3 4 5 6 7\ncpux 1 2 3 4 5 6 7 8 9\n"); len(got) != 0 {
		t.Errorf("lines without steal parsed: %v", got)
	}
}

func TestBusyShare(t *testing.T) {
	a := parseCPUTimes("cpu  9 9 9 9 9 9 9 9 9 9\n" +
		"cpu0 100 0 100 800 0 0 0 0 0 0\n" +
		"cpu1 100 0 100 800 0 0 0 0 0 0\n")
	// cpu0: 100 more ticks, 90 of them idle; cpu1: 100 more, 40 idle,
	// 10 of those iowait. guest (9th value) is in user already.
	b := parseCPUTimes("cpu0 105 0 105 890 0 0 0 0 50 0\n" +
		"cpu1 130 0 130 830 10 0 0 0 0 0\n")
	if got := busyShare(a, b); got < 0.599 || got > 0.601 {
		t.Errorf("busyShare = %v, want 0.6 (cpu1)", got)
	}
	if got := busyShare(a, a); got != -1 {
		t.Errorf("busyShare without time passing = %v, want -1", got)
	}
	if got := busyShare(a, map[int]cpuTimes{0: {200, 100}}); got != -1 {
		t.Errorf("busyShare without cpu1 = %v, want -1", got)
	}
}
