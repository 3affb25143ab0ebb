package iofwd

import (
	"errors"
	"fmt"
	"slices"
)

// Summary is the median, minimum and maximum of a set of figures.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize returns the median (the mean of the two middle values for an even
// count), minimum and maximum of xs. It fails on an empty set.
func Summarize(xs []float64) (Summary, error) {
	if len(xs) == 0 {
		return Summary{}, errors.New("summarize: no values")
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{N: n, Median: med, Min: s[0], Max: s[n-1]}, nil
}

// Ratios returns ours[i]/ref[i] for each round. The slices must have the
// same, non-zero length and ref must have no zero (or negative) figure.
func Ratios(ours, ref []float64) ([]float64, error) {
	if len(ours) != len(ref) {
		return nil, fmt.Errorf("ratios: %d figures against %d", len(ours), len(ref))
	}
	if len(ours) == 0 {
		return nil, errors.New("ratios: no values")
	}
	out := make([]float64, len(ours))
	for i := range ours {
		if ref[i] <= 0 {
			return nil, fmt.Errorf("ratios: reference figure %d is %g", i, ref[i])
		}
		out[i] = ours[i] / ref[i]
	}
	return out, nil
}

// Comparison is ours against the reference over the same rounds.
type Comparison struct {
	Ours      Summary `json:"ours"`
	Reference Summary `json:"reference"`
	// Ratio is median(ours)/median(reference), the headline figure.
	Ratio float64 `json:"ratio"`
	// RoundRatios are ours/reference per round; RatioMin and RatioMax their
	// extremes, a measure of the noise.
	RoundRatios []float64 `json:"round_ratios"`
	RatioMin    float64   `json:"ratio_min"`
	RatioMax    float64   `json:"ratio_max"`
	// Target is the ratio ours should reach; Verdict is PASS or BELOW.
	Target  float64 `json:"target"`
	Verdict string  `json:"verdict"`
}

// Verdicts.
const (
	Pass  = "PASS"
	Below = "BELOW"
)

// Compare summarizes per-round figures of ours and of the reference and
// judges median(ours)/median(reference) against target.
func Compare(ours, ref []float64, target float64) (Comparison, error) {
	rr, err := Ratios(ours, ref)
	if err != nil {
		return Comparison{}, err
	}
	so, _ := Summarize(ours) // non-empty: Ratios checked
	sr, _ := Summarize(ref)
	sratio, _ := Summarize(rr)
	if sr.Median <= 0 {
		return Comparison{}, fmt.Errorf("compare: reference median is %g", sr.Median)
	}
	c := Comparison{
		Ours: so, Reference: sr,
		Ratio:       so.Median / sr.Median,
		RoundRatios: rr, RatioMin: sratio.Min, RatioMax: sratio.Max,
		Target: target, Verdict: Below,
	}
	if c.Ratio >= target {
		c.Verdict = Pass
	}
	return c, nil
}
