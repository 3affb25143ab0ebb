package iofwd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata are real transcripts of
//
//	dpdk-testpmd -l 0,1 --main-lcore 0 --no-pci --in-memory --file-prefix P \
//	  --vdev=net_null0 --vdev=net_null1 -- -i --forward-mode=io --nb-cores=1 \
//	  --burst=32 --mbcache=256 --total-num-mbufs=8191
//
// with its stdin and stdout on pipes, fed start, "show port stats all"
// (twice, or five times), stop and quit:
//
//   - testpmd-stdbuf.txt ran under stdbuf -oL, so the output comes line by
//     line, each command's output after its echo;
//   - testpmd-pipe-interleaved.txt ran without it: stdout is block-buffered,
//     the prompts and echoes (written at once) come first, and one lands in
//     the middle of a line ("TX-packettestpmd> show port stats all\r\n").
func TestParsePortStats(t *testing.T) {
	for _, tc := range []struct {
		file  string
		cmds  []string
		snaps []Snapshot
	}{
		{
			file: "testpmd-stdbuf.txt",
			cmds: trialCmds,
			snaps: []Snapshot{
				{{Port: 0, RxPackets: 25687616, TxPackets: 25182240}, {Port: 1, RxPackets: 25692192, TxPackets: 25182240}},
				{
					{Port: 0, RxPackets: 102952384, TxPackets: 102447008, RxPPS: 38593481, TxPPS: 38593481},
					{Port: 1, RxPackets: 102957504, TxPackets: 102447552, RxPPS: 38593759, TxPPS: 38593759},
				},
			},
		},
		{
			file: "testpmd-pipe-interleaved.txt",
			cmds: trialCmds,
			snaps: []Snapshot{
				{{Port: 0, RxPackets: 23244896, TxPackets: 22855264}, {Port: 1, RxPackets: 23345600, TxPackets: 22855616}},
				{
					{Port: 0, RxPackets: 31010528, TxPackets: 30620864, RxPPS: 24422824, TxPPS: 24422724},
					{Port: 1, RxPackets: 31110880, TxPackets: 30620896, RxPPS: 24421792, TxPPS: 24421792},
				},
				{
					{Port: 0, RxPackets: 39432032, TxPackets: 39042400, RxPPS: 27950036, TxPPS: 27950142},
					{Port: 1, RxPackets: 39532384, TxPackets: 39042400, RxPPS: 27950021, TxPPS: 27950021},
				},
				{
					// The block the echo split.
					{Port: 0, RxPackets: 48266176, TxPackets: 47876512, RxPPS: 28673575, TxPPS: 28673472},
					{Port: 1, RxPackets: 48366496, TxPackets: 47876512, RxPPS: 28673465, TxPPS: 28673465},
				},
				{
					{Port: 0, RxPackets: 57314720, TxPackets: 56925088, RxPPS: 29557998, TxPPS: 29558102},
					{Port: 1, RxPackets: 57415072, TxPackets: 56925088, RxPPS: 29558084, TxPPS: 29558084},
				},
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out := CleanTranscript(readTestdata(t, tc.file), tc.cmds)
			if strings.Contains(out, Prompt) {
				t.Errorf("cleaned transcript still has a prompt")
			}
			snaps, err := ParsePortStats(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(snaps, tc.snaps) {
				t.Fatalf("snapshots:\n got %+v\nwant %+v", snaps, tc.snaps)
			}
			if got := FwdLcores(out); !reflect.DeepEqual(got, []int{1}) {
				t.Errorf("FwdLcores = %v, want [1]", got)
			}
			// The forward statistics printed by "stop" have RX-packets
			// lines too; they must not count as port stats.
			if !strings.Contains(out, "Forward statistics for port 0") {
				t.Errorf("transcript lacks stop's forward statistics")
			}
		})
	}
}

func TestParsePortStatsNeedsCleaning(t *testing.T) {
	// Without removing the echoes, the split block lacks its TX-packets.
	_, err := ParsePortStats(readTestdata(t, "testpmd-pipe-interleaved.txt"))
	if err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Fatalf("parse of the raw interleaved transcript: err %v, want a block lacking TX-packets", err)
	}
}

func TestRxDelta(t *testing.T) {
	snaps, err := ParsePortStats(CleanTranscript(readTestdata(t, "testpmd-stdbuf.txt"), trialCmds))
	if err != nil {
		t.Fatal(err)
	}
	d, err := RxDelta(snaps[0], snaps[1], []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(102952384 + 102957504 - 25687616 - 25692192); d != want {
		t.Errorf("RxDelta = %d, want %d", d, want)
	}
	if got, want := snaps[1].RxPPS(), uint64(38593481+38593759); got != want {
		t.Errorf("RxPPS = %d, want %d", got, want)
	}
	for _, tc := range []struct {
		name  string
		a, b  Snapshot
		ports []int
	}{
		{"backwards", snaps[1], snaps[0], []int{0, 1}},
		{"port missing", snaps[0][:1], snaps[1], []int{0, 1}},
		{"other ports", snaps[0], snaps[1], []int{1, 2}},
	} {
		if _, err := RxDelta(tc.a, tc.b, tc.ports); err == nil {
			t.Errorf("%s: RxDelta succeeded", tc.name)
		}
	}
}

func TestParsePortStatsErrors(t *testing.T) {
	const hdr = "  ######################## NIC statistics for port 0  ########################\n"
	const end = "  ############################################################################\n"
	for _, tc := range []struct {
		name, out, want string
	}{
		{"truncated", hdr + "  RX-packets: 1   RX-missed: 0\n", "truncated"},
		{"no tx packets", hdr + "  RX-packets: 1   RX-missed: 0\n" + end, "lacks"},
		{"next header before the end", hdr + "  RX-packets: 1\n" + hdr, "not terminated"},
		{"field twice", hdr + "  RX-packets: 1\n  RX-packets: 2\n" + end, "twice"},
		{"overflow", hdr + "  RX-packets: 99999999999999999999999\n" + end, "RX-packets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePortStats(tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
	snaps, err := ParsePortStats("Bye...\n")
	if err != nil || len(snaps) != 0 {
		t.Errorf("output without stats: %v, %v", snaps, err)
	}
}

func TestCleanTranscript(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\ntestpmd> start\r\nb\n", "a\nb\n"},
		{"  TX-packettestpmd> show port stats all\r\ntestpmd> stop\r\ns: 5\n", "  TX-packets: 5\n"},
		{"x\ntestpmd> stop\n", "x\n"},
		// Data after a bare prompt (no echo) stays.
		{"testpmd> RX-packets: 7\n", "RX-packets: 7\n"},
		// An unknown command's echo is left, only the prompt goes.
		{"testpmd> help\r\n", "help\r\n"},
	} {
		if got := CleanTranscript(tc.in, trialCmds); got != tc.want {
			t.Errorf("CleanTranscript(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTranscriptCountsPrompts(t *testing.T) {
	tr := newTranscript()
	// A prompt split over writes counts once, when complete.
	for _, w := range []string{"Done\ntestp", "md> ", "start\r\ntestpmd> testpmd", "> "} {
		if _, err := tr.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.prompts(); n != 3 {
		t.Errorf("prompts = %d, want 3", n)
	}
}
