package iofwd

import (
	"math"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Summary
	}{
		{"one", []float64{3}, Summary{N: 1, Median: 3, Min: 3, Max: 3}},
		{"odd unsorted", []float64{5, 1, 4, 2, 3}, Summary{N: 5, Median: 3, Min: 1, Max: 5}},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
		{"duplicates", []float64{2, 2, 9, 2}, Summary{N: 4, Median: 2, Min: 2, Max: 9}},
		{"real Mpps", []float64{51.76, 48.33, 46.36, 57.70, 75.84}, Summary{N: 5, Median: 51.76, Min: 46.36, Max: 75.84}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			got, err := Summarize(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("Summarize changed its input: %v, was %v", tc.in, in)
				}
			}
		})
	}
	if _, err := Summarize(nil); err == nil {
		t.Error("Summarize(nil) succeeded")
	}
}

func TestRatios(t *testing.T) {
	got, err := Ratios([]float64{40, 30, 90}, []float64{50, 60, 90})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0.8, 0.5, 1} {
		if math.Abs(got[i]-want) > 1e-12 {
			t.Errorf("ratio %d = %g, want %g", i, got[i], want)
		}
	}
	for _, tc := range []struct {
		name      string
		ours, ref []float64
	}{
		{"length mismatch", []float64{1, 2}, []float64{1}},
		{"empty", nil, nil},
		{"zero reference", []float64{1, 2}, []float64{1, 0}},
		{"negative reference", []float64{1}, []float64{-1}},
	} {
		if _, err := Ratios(tc.ours, tc.ref); err == nil {
			t.Errorf("%s: Ratios(%v, %v) succeeded", tc.name, tc.ours, tc.ref)
		}
	}
}

func TestCompare(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tc := range []struct {
		name              string
		ours, ref         []float64
		ratio, rmin, rmax float64
		verdict           string
	}{
		// The median ratio is the ratio of the medians, not the median of
		// the per-round ratios.
		{"ratio of medians", []float64{40, 50, 60}, []float64{100, 50, 60}, 50.0 / 60, 0.4, 1, Pass},
		{"ratio of medians below", []float64{30, 45, 60}, []float64{100, 60, 60}, 45.0 / 60, 0.3, 1, Below},
		{"exactly on target", []float64{8, 8, 8}, []float64{10, 10, 10}, 0.8, 0.8, 0.8, Pass},
		{"above", []float64{9, 10}, []float64{10, 10}, 0.95, 0.9, 1, Pass},
		{"just below", []float64{7.99}, []float64{10}, 0.799, 0.799, 0.799, Below},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(tc.ours, tc.ref, 0.80)
			if err != nil {
				t.Fatal(err)
			}
			if !near(c.Ratio, tc.ratio) || !near(c.RatioMin, tc.rmin) || !near(c.RatioMax, tc.rmax) || c.Verdict != tc.verdict {
				t.Errorf("Compare = ratio %g min %g max %g %s, want %g %g %g %s",
					c.Ratio, c.RatioMin, c.RatioMax, c.Verdict, tc.ratio, tc.rmin, tc.rmax, tc.verdict)
			}
			if c.Ours.N != len(tc.ours) || c.Reference.N != len(tc.ref) || len(c.RoundRatios) != len(tc.ours) {
				t.Errorf("counts: %+v", c)
			}
		})
	}
	if _, err := Compare([]float64{1}, []float64{0}, 0.8); err == nil {
		t.Error("Compare with a zero reference succeeded")
	}
}

func TestWriteTable(t *testing.T) {
	ours, ref := []float64{40, 50, 45}, []float64{60, 55, 50}
	c, err := Compare(ours, ref, 0.80)
	if err != nil {
		t.Fatal(err)
	}
	r := &Result{Setup: DefaultSetup, WarmupSec: 0.5, WindowSec: 3, Comparison: c, Contended: 1}
	for i := range ours {
		r.Rounds = append(r.Rounds, Round{Round: i + 1, First: SideOurs,
			Ours:    OursTrial{Measurement: Measurement{Mpps: ours[i], FwdCPUShare: 0.99}},
			Testpmd: TestpmdMeasurement{Measurement: Measurement{Mpps: ref[i], FwdCPUShare: -1}},
			Ratio:   ours[i] / ref[i]})
	}
	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"3 rounds of 3.0 s after 0.5 s warm-up",
		"2 ours 50.00 99% 55.00 ? 0.909",
		"ours 45.00 40.00 50.00",
		"testpmd 55.00 50.00 60.00",
		"ratio median(ours)/median(testpmd) = 0.818 (per-round ratios: min 0.667, max 0.909)",
		"target ours >= 0.80x testpmd: PASS",
		"1 of 6 trials below 95%",
	} {
		// Compare with runs of spaces collapsed: the columns' widths vary.
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
