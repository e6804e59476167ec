package perf

import (
	"math"
	"sort"
	"time"
)

// Stats summarises the wall-clock samples of one command in one column.
// Times are milliseconds, rounded to the microsecond.
type Stats struct {
	N         int       `json:"n"`
	MedianMs  float64   `json:"median_ms"`
	MinMs     float64   `json:"min_ms"`
	MaxMs     float64   `json:"max_ms"`
	MeanMs    float64   `json:"mean_ms"`
	P99Ms     float64   `json:"p99_ms"`
	SamplesMs []float64 `json:"samples_ms,omitempty"`
}

// ms converts d to milliseconds rounded to the microsecond.
func ms(d time.Duration) float64 { return roundMs(float64(d) / 1e6) }

func roundMs(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// round2 rounds a factor to two decimals (JSON has no NaN: 0 stands in).
func round2(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*100) / 100
}

// summarize computes Stats for d, keeping the samples (in the order they
// were taken) when keep is set.
func summarize(d []time.Duration, keep bool) Stats {
	if len(d) == 0 {
		return Stats{}
	}
	s := make([]time.Duration, len(d))
	copy(s, d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	st := Stats{
		N:        len(s),
		MedianMs: ms(medianSorted(s)),
		MinMs:    ms(s[0]),
		MaxMs:    ms(s[len(s)-1]),
		MeanMs:   ms(sum / time.Duration(len(s))),
		P99Ms:    ms(percentileSorted(s, 99)),
	}
	if keep {
		st.SamplesMs = make([]float64, len(d))
		for i, v := range d {
			st.SamplesMs[i] = ms(v)
		}
	}
	return st
}

// Median returns the median of d (the mean of the two middle values for an
// even count); 0 for no samples.
func Median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := make([]time.Duration, len(d))
	copy(s, d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return medianSorted(s)
}

func medianSorted(s []time.Duration) time.Duration {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentileSorted is the nearest-rank percentile p (0-100] of sorted s.
func percentileSorted(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// medianInt64 is the median of v (lower middle for an even count).
func medianInt64(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

// medianFloat is the median of v.
func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
