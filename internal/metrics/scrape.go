package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Snapshot is one scrape of an endpoint: its metric families by name.
type Snapshot map[string]*dto.MetricFamily

// Scrape reads url (an endpoint's /metrics) in the text exposition format.
func Scrape(ctx context.Context, url string) (Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, b)
	}
	return Parse(resp.Body)
}

// Parse reads the text exposition format.
func Parse(r io.Reader) (Snapshot, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Snapshot(fams), nil
}

// matches tells whether m carries every label of want.
func matches(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// Sum adds up the series of name whose labels include want (nil: all).
// name is a counter, gauge or untyped family, or F_count / F_sum of a
// histogram family F. Missing families count as 0.
func (s Snapshot) Sum(name string, want map[string]string) float64 {
	if f, ok := s[name]; ok {
		var sum float64
		for _, m := range f.GetMetric() {
			if !matches(m, want) {
				continue
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				sum += m.GetUntyped().GetValue()
			}
		}
		return sum
	}
	if base, ok := strings.CutSuffix(name, "_count"); ok {
		return float64(s.Histogram(base, want).Count)
	}
	if base, ok := strings.CutSuffix(name, "_sum"); ok {
		return s.Histogram(base, want).Sum
	}
	return 0
}

// Series returns the label sets of name's series, for finding which values
// a label took (routes seen, stages run).
func (s Snapshot) Series(name string) []map[string]string {
	var out []map[string]string
	for _, m := range s[name].GetMetric() {
		ls := make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		out = append(out, ls)
	}
	return out
}

// Histogram is a histogram's cumulative buckets (as exported, the +Inf
// bucket implied by Count), possibly merged over several series.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets []Bucket // ascending upper bounds
}

// Bucket is one cumulative bucket: Count observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram merges the series of histogram family name whose labels
// include want. Series with other bucket bounds are merged bound by bound.
func (s Snapshot) Histogram(name string, want map[string]string) Histogram {
	var h Histogram
	counts := map[float64]uint64{}
	for _, m := range s[name].GetMetric() {
		if m.GetHistogram() == nil || !matches(m, want) {
			continue
		}
		hm := m.GetHistogram()
		h.Count += hm.GetSampleCount()
		h.Sum += hm.GetSampleSum()
		for _, b := range hm.GetBucket() {
			counts[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	for ub, c := range counts {
		if !math.IsInf(ub, +1) {
			h.Buckets = append(h.Buckets, Bucket{UpperBound: ub, Count: c})
		}
	}
	sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].UpperBound < h.Buckets[j].UpperBound })
	return h
}

// Sub is h minus an earlier scrape of the same series: the observations in
// between, for a quantile over a benchmark's run.
func (h Histogram) Sub(before Histogram) Histogram {
	prev := make(map[float64]uint64, len(before.Buckets))
	for _, b := range before.Buckets {
		prev[b.UpperBound] = b.Count
	}
	d := Histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	for _, b := range h.Buckets {
		d.Buckets = append(d.Buckets, Bucket{UpperBound: b.UpperBound, Count: b.Count - prev[b.UpperBound]})
	}
	return d
}

// Mean is Sum/Count (NaN without observations).
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / float64(h.Count)
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket that
// holds it, the lowest bucket starting at 0, and the highest finite bound
// when it falls above every bound. NaN without observations.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || q < 0 || q > 1 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	lower, below := 0.0, uint64(0)
	for _, b := range h.Buckets {
		if float64(b.Count) >= rank {
			in := b.Count - below
			if in == 0 {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower
}
