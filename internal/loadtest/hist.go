package loadtest

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a lock-free, fixed-size, log-linear latency histogram (like a
// small HDR histogram): values are microseconds, exact below 128 µs and within
// 1/64 (about 1.6%) above, up to about an hour. It uses 16 KB whatever the
// number of samples, so long runs cost nothing more.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

const (
	histSubBits = 6 // 64 sub-buckets per power of two
	histSub     = 1 << histSubBits
	histMaxUS   = 1 << 32 // ~71 minutes; larger values are clamped
	histBuckets = (32 - histSubBits + 1) * histSub
)

func bucketOf(us uint64) int {
	if us >= histMaxUS {
		us = histMaxUS - 1
	}
	if us < 2*histSub {
		return int(us)
	}
	shift := bits.Len64(us) - histSubBits - 1
	return (shift+1)*histSub + int(us>>shift) - histSub
}

// bucketHigh is the largest value that falls into bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	m := uint64(i%histSub + histSub)
	return (m+1)<<shift - 1
}

// Record adds one latency sample (negative values count as zero).
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Quantile returns the value at quantile q (0..1): the upper bound of the
// bucket holding it, never above the largest sample. Zero without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := min(bucketHigh(i), h.max.Load())
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max()
}

// Max is the largest sample.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean is the average sample.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}
